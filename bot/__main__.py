"""`python -m bot` is the same as the `hearthbot` command."""

import sys

from bot.cli import main

# Guarded: the email worker processes are spawned, and must not start the bot again.
if __name__ == "__main__":
    sys.exit(main())
