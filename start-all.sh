#!/usr/bin/env bash
# Start meterhub in the background: broker (embedded unless one answers), ingest, web.
# First run on a new database adds demo meters (METERHUB_DEMO=0 turns that off).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
# The data dir, the database, the secret and the log are private to this user.
umask 077
mh=.venv/bin/meterhub
read -r data_dir port < <(.venv/bin/python -c \
  'from meterhub.config import load_settings as l; s=l(); print(s.data_dir, s.PORT)')
mkdir -p "$data_dir" && chmod 700 "$data_dir"
pidfile="$data_dir/meterhub.pid"
log="$data_dir/meterhub.log"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "meterhub is already running (pid $(cat "$pidfile")) on http://localhost:$port"
  exit 0
fi
fresh=0
.venv/bin/python -c 'from meterhub.config import load_settings as l; import sys; \
s=l(); sys.exit(0 if s.DATABASE_URL is None and not (s.data_dir/"meterhub.db").exists() else 1)' \
  && fresh=1
"$mh" init-db
demo_args=()
if [ "$fresh" = 1 ] && [ "${METERHUB_DEMO:-3}" != 0 ]; then
  demo_args=(--demo "${METERHUB_DEMO:-3}")
  echo "new database: adding ${METERHUB_DEMO:-3} demo meters with 30 days of history"
fi
# setsid: the server gets its own process group, so stop-all.sh can stop all its children.
setsid nohup "$mh" run "${demo_args[@]}" >>"$log" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo -n "starting meterhub (log: $log) "
for _ in $(seq 1 120); do
  if .venv/bin/python -c "import urllib.request,sys; \
urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=2)" 2>/dev/null; then
    echo
    echo "meterhub is running: http://localhost:$port"
    echo "log in as admin / admin123 from this machine (you will be asked to choose a new"
    echo "password; until then the initial password is refused from other addresses)"
    echo "stop it with ./stop-all.sh"
    exit 0
  fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo; echo "error: meterhub exited during start; last lines of $log:" >&2
    tail -n 15 "$log" >&2; rm -f "$pidfile"; exit 1
  fi
  echo -n "."; sleep 1
done
echo; echo "error: meterhub did not answer on port $port within 120 s; see $log" >&2
exit 1
