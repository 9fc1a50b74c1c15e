#!/usr/bin/env bash
# Make sure what the tests talk to is there: Chromium for the browser tests, and the local
# Mosquitto and PostgreSQL (started if installed but stopped). Without root, it only checks;
# the tests then skip with a reason (never when CI=true).
set -uo pipefail
root=0; [ "$(id -u)" = 0 ] && root=1
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! command -v chromium >/dev/null && [ "$root" = 1 ] && command -v apt-get >/dev/null; then
  echo "installing Chromium for the browser tests (apt-get) ..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || echo "warning: could not install chromium; browser tests will skip (or fail under CI)"
fi
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ] && [ "$root" = 1 ]; then
  echo "installing Mosquitto (apt-get) ..."
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null \
    || echo "warning: could not install mosquitto"
fi
if ! port_open 1883 && [ -x /usr/sbin/mosquitto ] && [ "$root" = 1 ]; then
  /usr/sbin/mosquitto -d -c /etc/mosquitto/mosquitto.conf || echo "warning: mosquitto did not start"
fi
if ! port_open 5432 && command -v pg_ctlcluster >/dev/null && [ "$root" = 1 ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
    || echo "warning: postgresql did not start"
fi
exit 0
