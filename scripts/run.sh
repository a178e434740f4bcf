#!/usr/bin/env bash
# Runs hearthbot. With Slack credentials (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET or
# SLACK_APP_TOKEN, in the environment or .env) it serves Slack; without them it starts the
# web console on http://127.0.0.1:3000/console (a playground routed exactly as in Slack,
# the audit charts, the policy). Extra arguments go to the chosen command.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT"
[ -f .env ] && { set -a; source .env; set +a; }

ensure_venv
ensure_redis persistent
ensure_console_assets

if [ -n "${SLACK_BOT_TOKEN:-}" ] && { [ -n "${SLACK_SIGNING_SECRET:-}" ] || [ -n "${SLACK_APP_TOKEN:-}" ]; }; then
  exec "$VENV/bin/hearthbot" serve "$@"
fi
say "no Slack credentials set: starting the web console (see README: 'Create the Slack app')"
exec "$VENV/bin/hearthbot" console "$@"
