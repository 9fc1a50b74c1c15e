"""The alerts process: the evaluator and the notifier, each in its own thread, until
SIGTERM/SIGINT.

`python -m meterhub.alerts.service` is what `meterhub run` starts (supervised, restarted
if it dies) and `meterhub alerts run` becomes. It reads DATABASE_URL, MQTT_BROKER_URL
(for MQTT channels), SMTP_URL, SMTP_FROM and LOG_LEVEL from the environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from types import FrameType

from meterhub.alerts.channels import Outbound
from meterhub.alerts.evaluator import Evaluator
from meterhub.alerts.notifier import Notifier
from meterhub.broker.url import BrokerTarget, parse_broker_url
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.runtime import logs

log = logging.getLogger(__name__)
NICENESS = 10


def run_alerts(database_url: str, outbound: Outbound) -> int:
    """Evaluate rules and send notifications until SIGTERM or SIGINT."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Ingest comes first: on a busy machine the evaluator lags (its cursors keep its
    # place, so it catches up afterwards) rather than taking CPU from storing readings.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    evaluator = Evaluator(sessions)
    notifier = Notifier(sessions, outbound)
    threads = [
        threading.Thread(target=evaluator.run, args=(stop,), name="alert-evaluator"),
        threading.Thread(target=notifier.run, args=(stop,), name="alert-notifier"),
    ]
    for thread in threads:
        thread.start()
    log.info("alerts started: %s", database_url.split("@")[-1])
    stop.wait()
    for thread in threads:
        thread.join()
    notifier.close()
    engine.dispose()
    log.info("alerts stopped: %d readings evaluated", evaluator.evaluated)
    return 0


def main() -> None:
    logs.setup(os.environ.get("LOG_LEVEL", "INFO").upper())
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        sys.exit("meterhub alerts: DATABASE_URL must be set")
    broker: BrokerTarget | None = None
    if url := os.environ.get("MQTT_BROKER_URL"):
        try:
            broker = parse_broker_url(url)
        except ValueError as exc:
            sys.exit(f"meterhub alerts: {exc}")
    outbound = Outbound(
        smtp_url=os.environ.get("SMTP_URL") or None,
        smtp_from=os.environ.get("SMTP_FROM") or None,
        broker=broker,
    )
    sys.exit(run_alerts(database_url, outbound))


if __name__ == "__main__":
    main()
