"""`meterhub ingest`: the writer and the MQTT consumer, run until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from meterhub.broker.url import BrokerTarget
from meterhub.db.engine import make_engine
from meterhub.telemetry.ingest import MqttIngest
from meterhub.telemetry.store import TelemetryStore
from meterhub.telemetry.writer import Writer

log = logging.getLogger(__name__)
REPORT_EVERY_S = 60.0


def run_ingest(database_url: str, target: BrokerTarget, stop: threading.Event | None = None
               ) -> None:
    """Consume `target` into the database until `stop` is set or a signal arrives."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    engine = make_engine(database_url)
    writer = Writer(TelemetryStore(engine))
    writer.start()
    ingest = MqttIngest(target, writer)
    ingest.start()
    log.info("ingest started: %s -> %s", target.display_url, database_url.split("@")[-1])
    last = writer.stats.stored
    while not stop.wait(REPORT_EVERY_S):
        stored = writer.stats.stored
        log.info("ingest: %d readings stored in the last %.0f s, %d rejected in total, "
                 "%d queued", stored - last, REPORT_EVERY_S, writer.stats.rejected,
                 writer.backlog)
        last = stored
    log.info("ingest stopping")
    ingest.stop()
    writer.stop()
    engine.dispose()
