"""The single writer: one thread takes decoded work from a bounded queue, writes it in
batches (group commit: everything queued, up to MAX_BATCH_ITEMS, in one transaction) and
only then runs each item's `on_done` (the MQTT acknowledgement). A failed transaction is
retried with back-off, never dropped: until it commits nothing is acknowledged, so the
broker keeps (and after a crash redelivers) the messages."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from meterhub.protocol.rejects import Reject
from meterhub.protocol.rules import raw_text
from meterhub.store import Batch, TelemetryStore, WriteResult

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 2000  # messages per transaction
MAX_QUEUE_ITEMS = 20_000  # queue entries (a message, or a chunk of them): submit blocks beyond
RETRY_MIN_S = 0.2
RETRY_MAX_S = 15.0
SWEEP_EVERY_S = 10.0  # how often silent devices are checked for "offline"
BACKLOG_WARN_S = 5.0  # warn when the oldest queued item waited this long


@dataclass(slots=True)
class WorkItem:
    """One MQTT message's worth of work and what to do once it is committed."""

    batch: Batch
    on_done: Callable[[], None] | None = None
    topic: str | None = None
    raw: bytes = b""  # the payload, kept for a dead letter if it cannot be stored
    queued_at: float = field(default_factory=time.monotonic)


@dataclass
class WriterStats:
    """Figures for logs and benchmarks."""

    batches: int = 0
    items: int = 0
    stored: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    failures: int = 0
    last_batch_items: int = 0


class Writer:
    """Owns the TelemetryStore; call `submit` from any thread."""

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store
        self.stats = WriterStats()
        # Entries are lists of items: `submit_many` hands a whole chunk over in one entry
        # (one lock round trip instead of one per message; docs/performance.md).
        self._queue: queue.Queue[list[WorkItem] | None] = queue.Queue(MAX_QUEUE_ITEMS)
        self._thread = threading.Thread(target=self._run, name="meterhub-writer", daemon=True)
        self._stopping = threading.Event()
        self._next_sweep = time.monotonic() + SWEEP_EVERY_S

    @property
    def backlog(self) -> int:
        """Entries (messages or chunks of them) waiting to be written."""
        return self._queue.qsize()

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: WorkItem) -> None:
        """Queue work; blocks while the queue is full (which slows the MQTT reader)."""
        self._queue.put([item])

    def submit_many(self, items: list[WorkItem]) -> None:
        """Queue several items as one entry (a received chunk); they are written in
        order and, like `submit`'s, each acknowledged after its transaction commits.
        The list is the writer's from now on."""
        if items:
            self._queue.put(items)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand and stop; what is still queued stays unacknowledged."""
        self._stopping.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (tests, backfill)."""
        done = threading.Event()
        self.submit(WorkItem(Batch(), done.set))
        return done.wait(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            items = self._take()
            sweep = time.monotonic() >= self._next_sweep
            if not items and not sweep:
                continue
            if sweep:
                self._next_sweep = time.monotonic() + SWEEP_EVERY_S
            self._write(items, sweep)

    def _take(self) -> list[WorkItem]:
        try:
            first = self._queue.get(timeout=1.0)
        except queue.Empty:
            return []
        if first is None:
            return []
        items = first
        while len(items) < MAX_BATCH_ITEMS:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._stopping.set()
                break
            items.extend(more)
        waited = time.monotonic() - items[0].queued_at
        if waited > BACKLOG_WARN_S:
            log.warning(
                "ingest is behind: oldest message waited %.1f s, %d queued", waited, self.backlog
            )
        return items

    def _write(self, items: list[WorkItem], sweep: bool) -> None:
        """Write `items` in one transaction, then acknowledge them.

        A database outage is retried with back-off (nothing is acknowledged meanwhile). Any
        other failure means some message cannot be stored: the batch is split and written
        message by message, and the one that still fails goes to the dead letters with the
        error, so one poison message never stalls ingest."""
        delay = RETRY_MIN_S
        retried = False
        while True:
            try:
                result = self.store.write(_merge(items, sweep))
                break
            except Exception as exc:
                self.stats.failures += 1
                self.store.forget()
                if not is_outage(exc) and not retried:
                    # Once more with fresh device state (e.g. a device deleted meanwhile).
                    retried = True
                    continue
                if not is_outage(exc):
                    if len(items) > 1 or sweep:
                        log.warning(
                            "a batch of %d messages failed (%s: %s); writing them one by one",
                            len(items),
                            type(exc).__name__,
                            _first_line(exc),
                        )
                        for item in items:
                            self._write([item], False)
                        return
                    dead = self._dead_letter(items[0], exc)
                    if dead is not None:
                        result = dead
                        break
                log.error(
                    "writing %d messages failed (%s: %s); retrying in %.1f s (nothing is "
                    "acknowledged until it succeeds)",
                    len(items),
                    type(exc).__name__,
                    _first_line(exc),
                    delay,
                )
                if self._stopping.wait(delay):
                    return  # stopping: leave them unacknowledged for redelivery
                delay = min(delay * 2, RETRY_MAX_S)
        self._account(items, result)
        for item in items:
            if item.on_done is not None:
                try:
                    item.on_done()
                except Exception:
                    log.exception("acknowledging a message failed")

    def _dead_letter(self, item: WorkItem, exc: Exception) -> WriteResult | None:
        """Store the message that cannot be stored as a reject; None if that fails too."""
        log.error(
            "a message on %s cannot be stored (%s: %s); it goes to the dead letters",
            item.topic,
            type(exc).__name__,
            _first_line(exc),
        )
        detail = f"{type(exc).__name__}: {_first_line(exc)}"[:500]
        raw = raw_text(item.raw)
        reject = Reject(
            reason="unstorable",
            detail=detail,
            topic=item.topic or "?",
            raw=raw,
            received_at=time.time(),
        )
        try:
            return self.store.write(Batch(rejects=[reject]))
        except Exception:
            self.store.forget()
            return None

    def _account(self, items: list[WorkItem], result: WriteResult) -> None:
        stats = self.stats
        stats.batches += 1
        stats.items += len(items)
        stats.last_batch_items = len(items)
        stats.stored += result.stored
        stats.duplicates += result.duplicates
        stats.late += result.late
        stats.rejected += result.rejected


def is_outage(exc: BaseException) -> bool:
    """True when the database itself is unavailable (retry), not the data at fault."""
    return isinstance(
        exc, (OperationalError, InterfaceError, DisconnectionError, SATimeoutError, ConnectionError)
    )


def _merge(items: list[WorkItem], sweep: bool) -> Batch:
    batch = Batch(sweep=sweep)
    for item in items:
        batch.readings.extend(item.batch.readings)
        batch.rejects.extend(item.batch.rejects)
        batch.statuses.extend(item.batch.statuses)
        batch.acks.extend(item.batch.acks)
        batch.foreign_readings.extend(item.batch.foreign_readings)
        batch.foreign_statuses.extend(item.batch.foreign_statuses)
    return batch


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""
