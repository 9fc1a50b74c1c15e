#!/usr/bin/env bash
# Install what the tests need and run them all: lint (Python and JavaScript), types, the
# Python suite (SQLite and PostgreSQL, Mosquitto, Chromium) and the firmware suite under
# MicroPython.
# Extra arguments go to pytest (e.g. ./run-tests.sh -k auth).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev,firmware,bench
scripts/test-services.sh
# The MicroPython source for the 32-bit frozen firmware build (heap tests); CI's checkout
# has it beside the clone. A user passes their own tree or tarball.
export MICROPYTHON_SRC="${MICROPYTHON_SRC:-$(cd .. && pwd)/shared/vendor/micropython-1.28.0.tar.gz}"
scripts/micropython32.sh
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== JavaScript (biome lint)"
# npm ci from the committed lock file, only when node_modules is missing or came from
# another lock file (the stamp records which)
lock_sum="$(sha256sum package-lock.json | cut -c1-16)"
if [ "$(cat node_modules/.meterhub-installed 2>/dev/null)" != "$lock_sum" ]; then
  command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20 or newer" >&2; exit 1; }
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.meterhub-installed
fi
npm run --silent lint:js
echo "== firmware (MicroPython)"; .venv/bin/meterhub firmware test
echo "== pytest"
exec .venv/bin/pytest "$@"
