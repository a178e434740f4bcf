"""Customer emails pasted or uploaded in Slack: recognising them, parsing them, and the
structured summary with a reply draft."""
