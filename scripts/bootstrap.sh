#!/usr/bin/env bash
# Shared by start-all.sh and run-tests.sh: create .venv and install meterhub into it.
# Usage: scripts/bootstrap.sh [extras]   (extras like "dev,firmware")
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null; then
  echo "error: $python not found; install Python 3.11 or newer" >&2; exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: meterhub needs Python 3.11 or newer ($("$python" --version) found)" >&2; exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
spec="."; [ -n "$extras" ] && spec=".[$extras]"
# Reinstall only when pyproject.toml or the extras changed (the stamp records both).
stamp=".venv/.meterhub-installed"
want="$(sha256sum pyproject.toml | cut -c1-16) $extras"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing meterhub${extras:+ with $extras} into .venv ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e "$spec"
  echo "$want" > "$stamp"
fi
