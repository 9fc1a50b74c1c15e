#!/usr/bin/env bash
# Install what the tests need and run them all: lint, types, the Python suite (SQLite and
# PostgreSQL, Mosquitto, Chromium) and the firmware suite under MicroPython.
# Extra arguments go to pytest (e.g. ./run-tests.sh -k auth).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev,firmware
scripts/test-services.sh
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== firmware (MicroPython)"; .venv/bin/meterhub firmware test
echo "== pytest"
exec .venv/bin/pytest "$@"
