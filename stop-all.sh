#!/usr/bin/env bash
# Stop meterhub started by start-all.sh: SIGTERM to its process group, then a bounded wait.
set -euo pipefail
cd "$(dirname "$0")"
if [ -x .venv/bin/python ]; then
  data_dir=$(.venv/bin/python -c 'from meterhub.config import load_settings as l; print(l().data_dir)')
else
  data_dir="${METERHUB_DATA_DIR:-./data}"
fi
pidfile="$data_dir/meterhub.pid"
if [ ! -f "$pidfile" ] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "meterhub is not running"; rm -f "$pidfile"; exit 0
fi
pid=$(cat "$pidfile")
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
for _ in $(seq 1 30); do
  if ! kill -0 "$pid" 2>/dev/null; then rm -f "$pidfile"; echo "meterhub stopped"; exit 0; fi
  sleep 0.5
done
echo "meterhub did not stop within 15 s; sending SIGKILL" >&2
kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
rm -f "$pidfile"
