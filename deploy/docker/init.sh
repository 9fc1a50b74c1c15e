#!/bin/sh
# The compose deployment's one-shot `init` service (deploy/compose.yaml): migrate the
# database, make sure an admin exists, and write Mosquitto's configuration (accounts and
# ACL from the device registry) into /mosquitto/meterhub, which the mosquitto service reads.
# Run it again after issuing, rotating or revoking device accounts, then reload Mosquitto:
#   docker compose run --rm init && docker compose kill -s HUP mosquitto
set -eu
broker_dir="${BROKER_DIR:-/mosquitto/meterhub}"  # the mosquitto service's volume
: "${MQTT_SERVICE_PASSWORD:?set it in deploy/.env (deploy/make-env.sh writes one)}"
umask 077
# meterhub's own broker account: the password from .env, where meterhub reads it.
printf '%s\n' "$MQTT_SERVICE_PASSWORD" > "$METERHUB_DATA_DIR/mqtt_service_password"
meterhub init-db
meterhub broker mosquitto-config --out "$broker_dir" --format files --user mosquitto
if [ "$(id -u)" = 0 ]; then
    # init runs as root to write into Mosquitto's volume. The files (mode 0600) go to the
    # eclipse-mosquitto image's account, 1883:1883, so that a running broker can re-read
    # them on SIGHUP; meterhub's files stay meterhub's.
    chown -R 1883:1883 "$broker_dir"
    if id meterhub >/dev/null 2>&1; then  # the image's account (absent outside it)
        chown -R meterhub:meterhub "$METERHUB_DATA_DIR"
    fi
fi
