#!/usr/bin/env bash
# Install what the tests need and run them all: lint, types, the Python suite (SQLite and
# PostgreSQL, Mosquitto, Chromium) and the firmware suite under MicroPython.
# Extra arguments go to pytest (e.g. ./run-tests.sh -k auth).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev,firmware
scripts/test-services.sh
# The MicroPython source for the 32-bit frozen firmware build (heap tests); CI's checkout
# has it beside the clone. A user passes their own tree or tarball.
export MICROPYTHON_SRC="${MICROPYTHON_SRC:-$(cd .. && pwd)/shared/vendor/micropython-1.28.0.tar.gz}"
scripts/micropython32.sh
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy"; .venv/bin/mypy
echo "== firmware (MicroPython)"; .venv/bin/meterhub firmware test
echo "== pytest"
exec .venv/bin/pytest "$@"
