"""Late readings: older than the late window they are dead letters ``too_old`` (a day's
totals cannot be rewritten by back-dated data); within it they are stored, their rollup
buckets recomputed, and a counter reset among them is recorded as an event like one that
arrived in time. SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from sqlalchemy import select

from meterhub.db.models import Device, DeviceEvent, IngestReject, Rollup1d
from meterhub.ingest.messages import decode_message
from meterhub.store import Batch, TelemetryStore

DAY = 86_400
WINDOW_S = 30 * DAY


def reading(serial: str, ts: float, energy: float) -> bytes:
    return orjson.dumps(
        {
            "serial_number": serial,
            "timestamp": ts,
            "voltage": 230.0,
            "current": 1.0,
            "power": 230.0,
            "energy": energy,
        }
    )


def send(store: TelemetryStore, serial: str, *payloads: bytes, now: float) -> None:
    batch = Batch()
    for payload in payloads:
        part = decode_message(f"meter/{serial}/data", payload, now, WINDOW_S)
        batch.readings += part.readings
        batch.rejects += part.rejects
    store.write(batch)


def daily(ctx: Any) -> list[tuple[int, int, int]]:
    with ctx.sessions() as db:
        return [
            (r.bucket, r.count, r.energy_wh)
            for r in db.scalars(select(Rollup1d).order_by(Rollup1d.bucket))
        ]


def test_a_reading_older_than_the_window_is_too_old(ctx: Any) -> None:
    serial = f"PZEM-{uuid.uuid4().hex[:6].upper()}"
    now = time.time()
    old_day = (now - 40 * DAY) // DAY * DAY + 3600
    store = TelemetryStore(ctx.engine)
    # That day's history was imported deliberately (no window) ...
    history = Batch()
    for i in range(3):
        part = decode_message(f"meter/{serial}/data", reading(serial, old_day + i * 60, 5.0), now)
        history.readings += part.readings
    store.write(history)
    send(store, serial, reading(serial, now - 30, 6.0), now=now)
    before = daily(ctx)
    # ... and a back-dated reading claiming 100 kWh more that day is refused.
    send(store, serial, reading(serial, old_day + 90, 105.0), now=now)
    batch = {"readings": [orjson.loads(reading(serial, old_day + 120, 105.0))]}
    send(store, serial, orjson.dumps(batch), now=now)
    assert daily(ctx) == before
    with ctx.sessions() as db:
        kept = list(db.scalars(select(IngestReject)))
    assert [(r.reason, r.serial) for r in kept] == [
        ("too_old", serial),
        ("too_old", serial),
    ]
    assert "105.0" in kept[0].payload and "late window of 30 days" in kept[0].detail


def test_a_reading_within_the_window_is_stored(ctx: Any) -> None:
    serial = f"PZEM-{uuid.uuid4().hex[:6].upper()}"
    now = time.time()
    store = TelemetryStore(ctx.engine)
    send(store, serial, reading(serial, now - 29 * DAY, 5.0), now=now)
    with ctx.sessions() as db:
        assert db.scalar(select(Device).where(Device.serial_number == serial)) is not None
        assert not list(db.scalars(select(IngestReject)))


def test_a_late_counter_reset_is_kept_as_an_event(ctx: Any) -> None:
    serial = f"PZEM-{uuid.uuid4().hex[:6].upper()}"
    now = time.time()
    start = (now - 2 * DAY) // 900 * 900
    store = TelemetryStore(ctx.engine)
    # In time: 10.000, 10.001 ... 10.004 kWh, one a minute; the one at minute 2 is missing.
    send(
        store,
        serial,
        *(reading(serial, start + i * 60, 10.0 + i / 1000) for i in (0, 1, 3, 4)),
        now=now,
    )
    # Late: the meter had been reset at minute 2 (its counter read 0.002 kWh then).
    send(store, serial, reading(serial, start + 120, 0.002), now=now)
    with ctx.sessions() as db:
        kinds = [
            (e.kind, e.detail["at"][:19])
            for e in db.scalars(select(DeviceEvent).order_by(DeviceEvent.id))
            if e.kind in ("reset", "wrap", "swap", "jump", "counter")
        ]
    assert kinds and kinds[0][0] == "reset", kinds
