#!/usr/bin/env bash
# Runs hearthbot. With Slack credentials (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or
# SLACK_APP_TOKEN, in the environment or .env) it serves Slack; without them it opens the
# terminal chat, routed exactly as in Slack. Extra arguments go to the chosen command.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT"
[ -f .env ] && { set -a; source .env; set +a; }

ensure_venv
ensure_redis persistent

if [ -n "${SLACK_BOT_TOKEN:-}" ] && { [ -n "${SLACK_SIGNING_SECRET:-}" ] || [ -n "${SLACK_APP_TOKEN:-}" ]; }; then
  exec "$VENV/bin/hearthbot" serve "$@"
fi
say "no Slack credentials set: starting the terminal chat (see README: 'Create the Slack app')"
exec "$VENV/bin/hearthbot" chat "$@"
