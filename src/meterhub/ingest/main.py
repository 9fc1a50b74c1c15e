"""Running ingest: the MQTT receiver in this process, the writer in a child process
(`handoff`), until SIGTERM/SIGINT.

`python -m meterhub.ingest.main` is the slim entry point `meterhub run` starts (and
`meterhub ingest` becomes, after migrating): it imports only the receiver, so the process
that holds the broker connection stays small. It reads MQTT_BROKER_URL (an mqtt:// URL)
and DATABASE_URL from the environment; LOG_LEVEL too, and INGEST_SHARED_GROUP and
INGEST_NAME for one of several workers (PostgreSQL only).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from types import FrameType

from meterhub.broker.url import BrokerTarget, parse_broker_url
from meterhub.ingest.receiver import CLIENT_ID, MqttIngest
from meterhub.ingest.shared import check_shared, worker_client_id
from meterhub.runtime import logs
from meterhub.runtime.allocator import tune_malloc

log = logging.getLogger(__name__)


def run_ingest(
    database_url: str,
    target: BrokerTarget,
    shared_group: str | None = None,
    client_id: str = CLIENT_ID,
) -> int:
    """Consume `target` into the database until SIGTERM or SIGINT; the exit code: 0 when
    stopped, 1 when the writer process died. With `shared_group` this is one of several
    workers (``$share/<group>/...`` subscriptions)."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ingest = MqttIngest(target, database_url, client_id, shared_group)
    ingest.start()
    log.info(
        "ingest started: %s -> %s%s",
        target.display_url,
        database_url.split("@")[-1],
        f" (worker {client_id} of shared group {shared_group})" if shared_group else "",
    )
    while not stop.wait(0.5):
        if ingest.failed.is_set():
            break
    log.info("ingest stopping")
    ingest.stop()
    return 1 if ingest.failed.is_set() else 0


def main() -> None:
    tune_malloc()  # before any thread starts
    logs.setup(os.environ.get("LOG_LEVEL", "INFO").upper())
    try:
        target = parse_broker_url(os.environ["MQTT_BROKER_URL"])
        target = replace(target, ca_file=os.environ.get("MQTT_CA_FILE") or None)
        database_url = os.environ["DATABASE_URL"]
    except (KeyError, ValueError) as exc:
        sys.exit(
            f"meterhub ingest: MQTT_BROKER_URL (mqtt://...) and DATABASE_URL must be set: {exc}"
        )
    group = os.environ.get("INGEST_SHARED_GROUP") or None
    client_id = CLIENT_ID
    if group:
        try:
            check_shared(group, database_url)
            client_id = worker_client_id(os.environ.get("INGEST_NAME"))
        except ValueError as exc:
            sys.exit(f"meterhub ingest: {exc}")
    sys.exit(run_ingest(database_url, target, group, client_id))


if __name__ == "__main__":
    main()
