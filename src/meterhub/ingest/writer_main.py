"""The ingest writer process: `python -m meterhub.ingest.writer_main FD`, started by
`handoff.WriterProcess` with one end of a socket pair as FD and DATABASE_URL set.

It receives chunks of raw MQTT messages, decodes each (`messages.decode_message`), hands
them to the `Writer` (group commit) and, once the message ending a chunk is committed,
sends the chunk's id back. It stops when the receiver says so or goes away (end of file,
or SIGTERM when the receiver dies); it ignores SIGINT, which a terminal sends to the
whole process group: the receiver decides when the writer stops.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from types import FrameType

from meterhub.db.engine import make_engine
from meterhub.ingest.messages import decode_message
from meterhub.ingest.writer import WorkItem, Writer
from meterhub.protocol.esphome import Rounds
from meterhub.protocol.rejects import Reject
from meterhub.protocol.rules import DEFAULT_LATE_WINDOW_DAYS, raw_text
from meterhub.runtime import logs
from meterhub.runtime.allocator import tune_malloc
from meterhub.store import Batch, TelemetryStore

log = logging.getLogger("meterhub.ingest.writer")

REPORT_EVERY_S = 60.0
FLUSH_TIMEOUT_S = 10.0


def serve(conn: Connection, writer: Writer, window_s: float | None = None) -> None:
    """Feed `writer` from `conn` until told to stop or the other end closes; readings
    older than `window_s` (the late window) become ``too_old`` dead letters."""

    def committed(chunk: int) -> None:
        conn.send_bytes(chunk.to_bytes(8, "little"))  # only the writer thread sends

    rounds = Rounds()  # ESPHome values waiting for the rest of their reading
    while True:
        try:
            # The socket pair's only peer is the receiver that started us (see handoff).
            message = pickle.loads(conn.recv_bytes())  # noqa: S301
        except (EOFError, OSError):
            return
        if message is None:
            writer.flush(FLUSH_TIMEOUT_S)  # what was handed over gets stored and confirmed
            return
        chunk, items = message
        now = time.monotonic()
        work = [
            WorkItem(
                decode_safely(topic, payload, received_at, window_s, rounds),
                None,
                topic,
                payload,
                now,
            )
            for topic, payload, received_at in items
        ]
        if work:
            work[-1].on_done = lambda c=chunk: committed(c)
        writer.submit_many(work)  # one queue entry per chunk, not per message


def late_window_s() -> float:
    """METERHUB_LATE_WINDOW_DAYS (set by the main process), in seconds."""
    return float(os.environ.get("METERHUB_LATE_WINDOW_DAYS", DEFAULT_LATE_WINDOW_DAYS)) * 86400


def decode_safely(
    topic: str,
    payload: bytes,
    received_at: float,
    window_s: float | None = None,
    rounds: Rounds | None = None,
) -> Batch:
    """`decode_message`, which turns bad input into rejects; should it fail itself (a bug),
    the message becomes an `unstorable` dead letter instead of stopping ingest: a crash
    here would be redelivered and crash the writer again."""
    try:
        return decode_message(topic, payload, received_at, window_s, rounds)
    except Exception as exc:
        log.exception("decoding a message on %s failed; it goes to the dead letters", topic)
        return Batch(
            rejects=[
                Reject(
                    reason="unstorable",
                    detail=f"decoder error: {type(exc).__name__}: {exc}"[:500],
                    topic=topic,
                    raw=raw_text(payload),
                    received_at=received_at,
                )
            ]
        )


def report(writer: Writer, stop: threading.Event) -> None:
    """A line a minute: what was stored and rejected, what is queued."""
    last = writer.stats.stored
    while not stop.wait(REPORT_EVERY_S):
        stored = writer.stats.stored
        log.info(
            "ingest: %d readings stored in the last %.0f s, %d rejected in total, %d queued",
            stored - last,
            REPORT_EVERY_S,
            writer.stats.rejected,
            writer.backlog,
        )
        last = stored


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, SQLAlchemy's tables and caches) out
    of the garbage collector's reach: the writer allocates per message, so the cyclic
    collector runs often, and each full collection would otherwise walk that whole heap
    again (measured: ~34 -> ~26 us of CPU a single reading, docs/performance.md). Objects
    made later are collected as before; nothing frozen here was garbage."""
    gc.collect()
    gc.freeze()


def main(argv: list[str]) -> None:
    tune_malloc()  # before any thread starts
    logs.setup(os.environ.get("LOG_LEVEL", "INFO").upper())
    conn = Connection(int(argv[0]))
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)  # the receiver is gone: finish the batch in hand, exit

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    engine = make_engine(os.environ["DATABASE_URL"])
    writer = Writer(TelemetryStore(engine, shared=bool(os.environ.get("INGEST_SHARED_GROUP"))))
    freeze_startup_heap()
    writer.start()
    threading.Thread(target=report, args=(writer, stop), daemon=True, name="ingest-report").start()
    try:
        serve(conn, writer, late_window_s())
    finally:
        stop.set()
        writer.stop()
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
