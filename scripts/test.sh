#!/usr/bin/env bash
# Runs everything CI runs: set-up on a fresh machine, lint, type check, tests.
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"
cd "$ROOT"

ensure_venv dev
ensure_redis
ensure_console_assets
ensure_browser
if ! command -v kubectl >/dev/null 2>&1; then
  say "WARNING: kubectl is missing; tests/test_deploy.py renders the Kubernetes overlays with"
  say "'kubectl kustomize' and will fail: install kubectl (https://kubernetes.io/docs/tasks/tools/)"
fi

say "ruff"
"$VENV/bin/ruff" check bot tests scripts bench
"$VENV/bin/ruff" format --check bot tests scripts bench
say "mypy"
"$VENV/bin/mypy"
say "pytest"
set +e
# Two workers by default (HEARTHBOT_TEST_WORKERS=0 runs in this process, for pdb and -s).
"$VENV/bin/pytest" -n "${HEARTHBOT_TEST_WORKERS:-2}" "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  say "pytest collected no tests: that is a failure"
  exit 1
fi
exit "$status"
