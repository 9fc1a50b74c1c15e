"""The writer's database side on SQLite and PostgreSQL: idempotence, late readings,
rollups that always equal a recomputation from raw rows, pending devices, events,
dead letters."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from meterhub.db.models import Device, DeviceEvent, IngestReject, Rollup15m
from meterhub.ingest.messages import decode_message
from meterhub.store import Batch, TelemetryStore, deadletters, devices
from tests.telemetry.rollup_reference import reference_aggregate

T0 = 1_790_000_100.0  # a quarter-hour boundary plus 100 s


def reading(
    serial: str,
    i: int,
    energy: float,
    *,
    seq: int | None = None,
    ts: float | None = None,
    power: float = 500.0,
) -> bytes:
    return orjson.dumps(
        {
            "serial_number": serial,
            "seq": i + 1 if seq is None else seq,
            "timestamp": T0 + i * 10 if ts is None else ts,
            "voltage": 230.0,
            "current": 2.2,
            "power": power,
            "energy": energy,
            "frequency": 50.0,
            "pf": 0.97,
        }
    )


def write(store: TelemetryStore, *payloads: bytes, topic: str | None = None) -> Any:
    """Decode and store `payloads`, each on its own device's topic unless `topic` is given
    (a message belongs to its topic's device)."""
    batch = Batch()
    for payload in payloads:
        own = topic or f"meter/{_serial_of(payload)}/data"
        part = decode_message(own, payload, T0 + 10_000)
        batch.readings += part.readings
        batch.rejects += part.rejects
        batch.statuses += part.statuses
    return store.write(batch)


def _serial_of(payload: bytes) -> str:
    try:
        serial = orjson.loads(payload).get("serial_number")
    except (orjson.JSONDecodeError, AttributeError):
        return "x"
    return serial if isinstance(serial, str) and serial else "x"


def rollups(ctx: Any) -> dict[int, tuple[int, int]]:
    with ctx.sessions() as db:
        return {r.bucket: (r.count, r.energy_wh) for r in db.scalars(select(Rollup15m))}


def recomputed(ctx: Any) -> dict[int, tuple[int, int]]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ts, voltage, current, power, energy, frequency, pf "
                "FROM readings ORDER BY ts"
            )
        ).all()
    aggs, _ = reference_aggregate([(r[0] / 1000, *r[1:]) for r in rows], None)
    return {b: (a["count"], a["energy_wh"]) for b, a in aggs.items()}


def assert_coarse_rollups_match(ctx: Any) -> None:
    """The hourly and daily rollups equal the 15-minute ones summed (slots = 15-min rows)."""
    with ctx.engine.connect() as conn:
        for table, width in (("rollups_1h", 3600), ("rollups_1d", 86400)):
            kept = conn.execute(
                text(
                    f"SELECT device_id, bucket, slots, count, energy_wh, voltage_min, power_max "
                    f"FROM {table} ORDER BY device_id, bucket"
                )
            ).all()
            expected = conn.execute(
                text(
                    f"SELECT device_id, (bucket / {width}) * {width} AS b, count(*), sum(count), "
                    f"sum(energy_wh), min(voltage_min), max(power_max) FROM rollups_15m "
                    f"GROUP BY device_id, b ORDER BY device_id, b"
                )
            ).all()
            assert [tuple(r) for r in kept] == [tuple(r) for r in expected], table


@pytest.fixture
def store(ctx: Any) -> TelemetryStore:
    return TelemetryStore(ctx.engine)


def test_redelivered_readings_are_stored_once(store: TelemetryStore, ctx: Any) -> None:
    payloads = [reading("S1", i, 1.0 + i * 0.001) for i in range(50)]
    first = write(store, *payloads)
    again = write(store, *payloads)
    assert (first.stored, again.stored, again.duplicates) == (50, 0, 50)
    fresh = TelemetryStore(ctx.engine)  # a restarted writer knows nothing in memory
    assert write(fresh, *payloads[:10]).stored == 0
    assert rollups(ctx) == recomputed(ctx)
    assert_coarse_rollups_match(ctx)


def test_late_and_out_of_order_readings_keep_rollups_exact(store: TelemetryStore, ctx: Any) -> None:
    energies = [5.0 + i * 0.0015 for i in range(300)]
    order = list(range(0, 300, 3)) + list(range(1, 300, 3)) + list(range(2, 300, 3))
    for start in range(0, 300, 40):
        write(store, *[reading("S1", i, energies[i]) for i in order[start : start + 40]])
    assert rollups(ctx) == recomputed(ctx)
    assert_coarse_rollups_match(ctx)
    total = sum(wh for _, wh in rollups(ctx).values())
    assert total == round(energies[-1] * 1000) - round(energies[0] * 1000)


def test_unknown_serial_becomes_pending_and_keeps_its_readings(
    store: TelemetryStore, ctx: Any
) -> None:
    result = write(store, reading("NEW-1", 0, 1.0), reading("NEW-1", 1, 1.001))
    assert result.new_devices == ["NEW-1"] and result.stored == 2
    with ctx.sessions() as db:
        device = db.scalar(select(Device).where(Device.serial_number == "NEW-1"))
        assert device is not None and device.status == "pending" and device.online


def test_counter_reset_and_wrap_are_events_and_never_negative(
    store: TelemetryStore, ctx: Any
) -> None:
    write(
        store,
        reading("S1", 0, 50.0),
        reading("S1", 1, 50.01),
        reading("S1", 2, 0.002),
        reading("S1", 3, 0.003),
    )
    write(store, reading("S2", 0, 9999.98), reading("S2", 1, 0.004))
    with ctx.sessions() as db:
        kinds = {e.kind for e in db.scalars(select(DeviceEvent))}
    assert {"reset", "wrap"} <= kinds
    with ctx.sessions() as db:
        booked = [r.energy_wh for r in db.scalars(select(Rollup15m))]
    assert all(wh >= 0 for wh in booked)
    assert sum(booked) == (10 + 2 + 1) + (20 + 4)


def test_seq_gap_is_recorded(store: TelemetryStore, ctx: Any) -> None:
    write(store, reading("S1", 0, 1.0, seq=1), reading("S1", 1, 1.001, seq=2))
    write(store, reading("S1", 5, 1.005, seq=6))
    with ctx.sessions() as db:
        gaps = [
            e.detail for e in db.scalars(select(DeviceEvent).where(DeviceEvent.kind == "seq_gap"))
        ]
    after, before = round(T0 + 10) * 1000, round(T0 + 50) * 1000
    assert gaps == [
        {"missing_from": 3, "missing_to": 5, "missing": 3, "after_ms": after, "before_ms": before}
    ]


def _gaps(ctx: Any) -> list[tuple[int, int]]:
    with ctx.sessions() as db:
        events = db.scalars(select(DeviceEvent).where(DeviceEvent.kind == "seq_gap"))
        return sorted((e.detail["missing_from"], e.detail["missing_to"]) for e in events)


def test_late_readings_close_the_seq_gap_they_fill(store: TelemetryStore, ctx: Any) -> None:
    write(store, reading("S1", 0, 1.0), reading("S1", 9, 1.009))
    assert _gaps(ctx) == [(2, 9)]
    write(store, reading("S1", 4, 1.004))  # seq 5 arrives late: the gap splits
    assert _gaps(ctx) == [(2, 4), (6, 9)]
    write(store, *(reading("S1", i, 1.0 + i / 1000) for i in (1, 2, 3, 5, 6, 7)))
    assert _gaps(ctx) == [(9, 9)]
    # seq 9 of an earlier life of the device (before a restart) is not this gap's
    write(store, reading("S1", -3, 0.9, seq=9))
    assert _gaps(ctx) == [(9, 9)]
    write(store, reading("S1", 8, 1.008))
    assert _gaps(ctx) == []


def test_bad_input_goes_to_dead_letters_bounded(
    store: TelemetryStore, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deadletters, "MAX_REJECTS", 5)
    bad = [
        b"{not json",
        b"[]",
        orjson.dumps({"serial_number": "S1", "voltage": "230"}),
        reading("S1", 0, 1.0).replace(b'"voltage":230.0', b'"voltage":999.0'),
        b"x" * 70_000,
        orjson.dumps(
            {
                "serial_number": "S1",
                "timestamp": time.time() + 3600,
                "voltage": 230,
                "current": 1,
                "power": 1,
                "energy": 1,
            }
        ),
    ]
    for payload in bad:
        write(store, payload, topic="meter/x/data")
    with ctx.sessions() as db:
        kept = list(db.scalars(select(IngestReject).order_by(IngestReject.id)))
        counters = dict(db.execute(text("SELECT name, value FROM ingest_counters")).all())
    assert len(kept) == 5  # bounded: the oldest went first
    assert [r.reason for r in kept] == [
        "not_an_object",
        "wrong_type",
        "out_of_range",
        "oversized",
        "future_timestamp",
    ]
    assert counters["rejects_malformed_json"] == 1 and counters["rejects_oversized"] == 1
    assert all(r.topic == "meter/x/data" and r.detail for r in kept)


def test_status_messages_and_silence_drive_online_state(store: TelemetryStore, ctx: Any) -> None:
    write(
        store,
        b'{"state":"online","firmware_version":"1.2.0","ip_address":"10.0.0.7",'
        b'"rssi":-61,"free_mem":21000}',
        topic="meter/S9/status",
    )
    with ctx.sessions() as db:
        device = db.scalar(select(Device).where(Device.serial_number == "S9"))
        assert device is not None
        assert (device.online, device.firmware_version, device.rssi) == (True, "1.2.0", -61)
        device.last_seen = device.last_seen.replace(year=2020)
        db.commit()
    store.write(Batch(sweep=True))
    with ctx.sessions() as db:
        device = db.scalar(select(Device).where(Device.serial_number == "S9"))
        kinds = [e.kind for e in db.scalars(select(DeviceEvent).order_by(DeviceEvent.id))]
    assert device is not None and not device.online
    assert kinds[-2:] == ["online", "offline"]
    write(store, b"offline", topic="meter/S9/status")


def test_reading_interval_is_learned_from_the_data(store: TelemetryStore, ctx: Any) -> None:
    def interval() -> int:
        with ctx.sessions() as db:
            device = db.scalar(select(Device).where(Device.serial_number == "SLOW"))
            assert device is not None
            return device.reading_interval_s

    write(store, *[reading("SLOW", i, 1 + i / 1000, ts=T0 + i * 60) for i in range(3)])
    assert interval() == 10  # two long gaps could be missed readings
    write(store, *[reading("SLOW", i, 1 + i / 1000, ts=T0 + i * 60) for i in range(3, 8)])
    assert interval() == 60
    write(store, reading("SLOW", 8, 1.008, ts=T0 + 7 * 60 + 5))
    assert interval() == 60  # one quick reading is not a new interval
    write(
        store,
        *[reading("SLOW", 9 + i, 1.009 + i / 1000, ts=T0 + 7 * 60 + 10 + i * 5) for i in range(4)],
    )
    assert interval() == 5


def test_unknown_serials_beyond_the_pending_limit_are_dead_letters(
    store: TelemetryStore, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "MAX_PENDING_DEVICES", 2)
    write(store, reading("U-1", 0, 1.0), reading("U-2", 0, 1.0))
    result = write(store, reading("U-3", 0, 1.0), reading("U-3", 1, 1.001))
    assert result.stored == 0 and result.rejected == 1
    with ctx.sessions() as db:
        [dead] = db.scalars(select(IngestReject)).all()
        assert db.scalar(select(Device).where(Device.serial_number == "U-3")) is None
    assert dead.reason == "too_many_pending" and "(2 reading(s))" in dead.detail


def test_coarse_rollups_follow_live_and_late_data_over_days(
    store: TelemetryStore, ctx: Any
) -> None:
    stamps = [T0 + i * 600 for i in range(500)]  # ~3.5 days at 10 minutes
    late = stamps[100:140]
    live = [t for t in stamps if t not in late]
    for start in range(0, len(live), 37):
        write(
            store, *[reading("S1", 0, 1 + (t - T0) / 1e6, ts=t) for t in live[start : start + 37]]
        )
    write(store, *[reading("S1", 0, 1 + (t - T0) / 1e6, ts=t) for t in late])
    assert rollups(ctx) == recomputed(ctx)
    assert_coarse_rollups_match(ctx)


def test_a_late_reading_moves_the_counter_event_it_precedes(
    store: TelemetryStore, ctx: Any
) -> None:
    """The reset seen between readings 0 and 2 happened between 0 and 1, as reading 1,
    arriving late, shows: one reset, at reading 1 (not one more at reading 2)."""
    write(store, reading("S1", 0, 5.0), reading("S1", 2, 0.002))
    write(store, reading("S1", 1, 0.001))
    with ctx.sessions() as db:
        resets = [
            e.detail["at"]
            for e in db.scalars(select(DeviceEvent).where(DeviceEvent.kind == "reset"))
        ]
    assert resets == [datetime.fromtimestamp(T0 + 10, UTC).isoformat()]
    assert rollups(ctx) == recomputed(ctx)
