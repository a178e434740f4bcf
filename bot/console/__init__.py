"""The web console, served by hearthbot itself at `/console`: a playground that answers like
Slack (through the same `AnswerService`), charts of where requests went (from the audit
stream), and the policy with a tester. See `bot.console.web` for the routes."""
