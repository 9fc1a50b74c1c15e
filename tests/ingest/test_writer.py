"""The writer thread: acknowledges only after commit, retries outages, and isolates a
message that cannot be stored instead of stalling on it."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from meterhub.db.models import IngestReject
from meterhub.ingest import writer as writer_module
from meterhub.ingest.messages import decode_message
from meterhub.ingest.writer import WorkItem, Writer
from meterhub.store import Batch, TelemetryStore, WriteResult


def item(serial: str, i: int, acks: list[str]) -> WorkItem:
    payload = orjson.dumps(
        {
            "serial_number": serial,
            "seq": i,
            "timestamp": 1_790_000_000 + i,
            "voltage": 230,
            "current": 1,
            "power": 230,
            "energy": 1 + i / 1000,
        }
    )
    return WorkItem(
        decode_message(f"meter/{serial}/data", payload, time.time()),
        lambda: acks.append(f"{serial}-{i}"),
        f"meter/{serial}/data",
        payload,
    )


class FlakyStore(TelemetryStore):
    """Fails on the serial POISON (bad data), or a number of times (an outage)."""

    outages = 0

    def write(self, batch: Batch) -> WriteResult:
        if any(r.serial == "POISON" for r in batch.readings):
            raise ValueError("value cannot be stored")
        if self.outages:
            self.outages -= 1
            raise OperationalError("SELECT 1", {}, Exception("database is away"))
        return super().write(batch)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "RETRY_MIN_S", 0.01)


def run(store: TelemetryStore, items: list[WorkItem]) -> Writer:
    writer = Writer(store)
    for work in items:
        writer.submit(work)
    writer.start()
    assert writer.flush(20)
    writer.stop()
    return writer


def test_poison_message_goes_to_dead_letters_and_the_rest_is_stored(ctx: Any) -> None:
    acks: list[str] = []
    items = [item("GOOD-1", 1, acks), item("POISON", 1, acks), item("GOOD-2", 1, acks)]
    writer = run(FlakyStore(ctx.engine), items)
    assert sorted(acks) == ["GOOD-1-1", "GOOD-2-1", "POISON-1"]
    with ctx.sessions() as db:
        [dead] = db.scalars(select(IngestReject)).all()
        stored = db.execute(text("SELECT count(*) FROM readings")).scalar()
    assert dead.reason == "unstorable" and dead.topic == "meter/POISON/data"
    assert "ValueError" in dead.detail and '"serial_number":"POISON"' in dead.payload
    assert stored == 2 and writer.stats.failures >= 2


def test_an_outage_is_retried_and_nothing_is_acked_before_the_commit(ctx: Any) -> None:
    acks: list[str] = []
    store = FlakyStore(ctx.engine)
    store.outages = 3
    seen_before_commit = threading.Event()
    items = [item("S-1", i, acks) for i in range(5)]
    original = items[0].on_done

    def first_ack() -> None:
        if store.outages:
            seen_before_commit.set()
        assert original is not None
        original()

    items[0].on_done = first_ack
    writer = run(store, items)
    assert not seen_before_commit.is_set()
    assert len(acks) == 5 and writer.stats.failures == 3
    with ctx.sessions() as db:
        assert db.scalars(select(IngestReject)).all() == []
        assert db.execute(text("SELECT count(*) FROM readings")).scalar() == 5


@pytest.mark.parametrize("chunked", [False, True])
def test_a_chunk_submitted_at_once_is_stored_like_its_messages_one_by_one(
    ctx: Any, chunked: bool
) -> None:
    """`submit_many` (one queue entry per received chunk) against the plain path, one
    `submit` per message: same rows, same dead letter, every message acknowledged."""
    acks: list[str] = []
    chunks = [
        [item("C-1", i, acks) for i in range(3)] + [item("POISON", 9, acks)],
        [item("C-2", i, acks) for i in range(4)],
    ]
    writer = Writer(FlakyStore(ctx.engine))
    for chunk in chunks:
        if chunked:
            writer.submit_many(chunk)
        else:
            for work in chunk:
                writer.submit(work)
    writer.start()
    assert writer.flush(20)
    writer.stop()
    assert sorted(acks) == sorted(
        [f"C-1-{i}" for i in range(3)] + ["POISON-9"] + [f"C-2-{i}" for i in range(4)]
    )
    with ctx.sessions() as db:
        [dead] = db.scalars(select(IngestReject)).all()
        rows = db.execute(
            text(
                "SELECT d.serial_number, r.seq FROM readings r JOIN devices d ON d.id = r.device_id"
            )
        ).all()
    assert dead.topic == "meter/POISON/data"
    assert sorted(rows) == sorted([("C-1", i) for i in range(3)] + [("C-2", i) for i in range(4)])


def test_freezing_the_start_up_heap_leaves_later_garbage_collectable() -> None:
    """The writer process freezes what start-up made (`freeze_startup_heap`); cycles it
    makes afterwards (per message) must still be collected, or its memory would grow."""
    import gc
    import weakref

    from meterhub.ingest.writer_main import freeze_startup_heap

    class Node:
        other: Any = None

    try:
        freeze_startup_heap()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
