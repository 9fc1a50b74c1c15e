"""Several writers on one PostgreSQL database (``ingest --shared``): each batch locks its
devices and reads their state from the database (`store.shared`), so two writers whose
caches are out of date, interleaving one device's readings, store what one writer
would; a device two writers see first at once is created once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from meterhub.store import TelemetryStore, shared
from meterhub.store.batch import WriteResult
from meterhub.store.devices import DeviceStates

from .test_write import (
    T0,
    _gaps,
    assert_coarse_rollups_match,
    reading,
    recomputed,
    rollups,
    write,
)

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


def test_two_writers_interleaving_one_device_store_what_one_writer_would(ctx: Any) -> None:
    one, two = TelemetryStore(ctx.engine, shared=True), TelemetryStore(ctx.engine, shared=True)
    energy = [1.0, 1.003, 1.004, 1.010, 1.011, 1.020, 1.021, 1.030]
    order = [(one, [0, 2]), (two, [1, 3]), (one, [4]), (two, [6, 7]), (one, [5])]
    for store, items in order:
        write(store, *(reading("S1", i, energy[i]) for i in items))
    assert rollups(ctx) == recomputed(ctx)
    assert_coarse_rollups_match(ctx)
    assert _gaps(ctx) == []
    with ctx.engine.connect() as conn:
        events = conn.execute(text("SELECT kind FROM device_events ORDER BY id")).scalars().all()
        wh = conn.execute(text("SELECT sum(energy_wh) FROM rollups_1d")).scalar()
    assert events == ["pending", "online"]  # each once; no counter event, no gap
    assert wh == 30


def test_a_reset_seen_by_interleaving_writers_is_recorded_once_where_it_was(ctx: Any) -> None:
    one, two = TelemetryStore(ctx.engine, shared=True), TelemetryStore(ctx.engine, shared=True)
    energy = [5.0, 5.001, 5.002, 0.001, 0.002, 0.003]
    for store, items in [(one, [0, 2]), (two, [1, 4]), (one, [3]), (two, [5])]:
        write(store, *(reading("S1", i, energy[i]) for i in items))
    with ctx.engine.connect() as conn:
        resets = (
            conn.execute(text("SELECT detail FROM device_events WHERE kind = 'reset'"))
            .scalars()
            .all()
        )
    assert [r["at"] for r in resets] == [datetime.fromtimestamp(T0 + 30, UTC).isoformat()]
    assert rollups(ctx) == recomputed(ctx)


def test_without_the_locks_a_stale_cache_counts_twice(ctx: Any) -> None:
    """The case the shared mode exists for: the same interleaving with per-process caches
    books the energy between two readings twice and records a gap that is not one."""
    one, two = TelemetryStore(ctx.engine), TelemetryStore(ctx.engine)
    write(one, reading("S1", 0, 1.0), reading("S1", 1, 1.005))
    write(two, reading("S1", 2, 1.010))
    write(one, reading("S1", 3, 1.020))
    assert rollups(ctx) != recomputed(ctx)
    assert _gaps(ctx) == [(3, 3)]


def test_the_lock_makes_the_second_writer_wait_and_read_what_the_first_stored(
    ctx: Any,
) -> None:
    store = TelemetryStore(ctx.engine, shared=True)
    write(store, reading("S1", 0, 1.0))
    states = DeviceStates()
    with ctx.engine.connect() as first:
        first.begin()
        staged, _ = states.stage(first, {"S1"}, WriteResult(), [])
        shared.lock_and_refresh(first, staged)
        seen: dict[str, Any] = {}

        def second() -> None:
            with ctx.engine.connect() as conn, conn.begin():
                mine, _ = DeviceStates().stage(conn, {"S1"}, WriteResult(), [])
                shared.lock_and_refresh(conn, mine)  # waits for `first`
                seen["last_seq"] = mine["S1"].last_seq
                seen["at"] = time.monotonic()

        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()  # blocked on the device's lock
        first.execute(
            text(
                "INSERT INTO readings (device_id, ts, voltage, current, power, energy, seq) "
                "VALUES (:d, :ts, 230, 1, 100, 1.001, 2)"
            ),
            {"d": staged["S1"].id, "ts": staged["S1"].last_ts + 10_000},
        )
        committed_at = time.monotonic()
        first.commit()
    waiter.join(10)
    assert seen["last_seq"] == 2 and seen["at"] >= committed_at


def test_a_new_device_seen_by_two_writers_at_once_is_created_once(ctx: Any) -> None:
    results = [WriteResult(), WriteResult()]
    ids: list[int] = []
    with ctx.engine.connect() as first:
        first.begin()
        staged, _ = DeviceStates().stage(first, {"NEW1"}, results[0], [])

        def second() -> None:
            with ctx.engine.connect() as conn, conn.begin():
                mine, _ = DeviceStates().stage(conn, {"NEW1"}, results[1], [])
                ids.append(mine["NEW1"].id)

        waiter = threading.Thread(target=second)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()  # its insert waits for ours
        first.commit()
    waiter.join(10)
    assert ids == [staged["NEW1"].id]
    assert (results[0].new_devices, results[1].new_devices) == (["NEW1"], [])
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar() == 1
