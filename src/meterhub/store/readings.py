"""Readings: bulk inserts that ignore duplicates (the primary key is (device, ts), so a
redelivered message is harmless). Readings newer than a device's last stored one are
folded into the rollups incrementally; late ones (a backlog flush, out-of-order delivery)
make their buckets be recomputed from raw rows."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.db.types import utcnow
from meterhub.protocol.readings import Reading
from meterhub.protocol.rules import MAX_FIRMWARE_LEN, MAX_TEXT_LEN
from meterhub.store.batch import WriteResult
from meterhub.store.devices import DeviceState, learn_interval
from meterhub.store.rollups import write_rollups
from meterhub.store.seqgaps import close_gaps, gap_detail
from meterhub.store.tables import CHUNK, DEVICE_META_EVERY_S, DEVICES, READINGS, event
from meterhub.telemetry.energy import Delta
from meterhub.telemetry.rollup import RollupRow, aggregate, bucket_of

READING_COLUMNS: Final = (
    "device_id",
    "ts",
    "voltage",
    "current",
    "power",
    "energy",
    "frequency",
    "pf",
    "alarm",
    "seq",
)


def write_readings(
    conn: Connection,
    readings: list[Reading],
    states: dict[str, DeviceState],
    result: WriteResult,
    events: list[dict[str, Any]],
) -> None:
    """Insert new readings (duplicates ignored), fold them into the rollups, note late
    ones for recomputing, and update the devices rows at most every few seconds."""
    if not readings:
        return
    by_device: dict[str, dict[int, Reading]] = {}
    for reading in readings:
        by_device.setdefault(reading.serial, {})[reading.ts_ms] = reading
    result.duplicates += len(readings) - sum(len(v) for v in by_device.values())
    rows: list[tuple[Any, ...]] = []
    rollup_rows: list[RollupRow] = []
    recompute: set[tuple[int, int]] = set()
    late_stamps: dict[int, set[int]] = {}  # device id -> ts (ms) of its late readings
    late_seqs: dict[int, list[tuple[int, int]]] = {}  # device id -> late (ts ms, seq)
    new_slots: set[tuple[int, int]] = set()  # 15-minute buckets this batch creates
    meta: list[dict[str, Any]] = []
    now_mono = time.monotonic()
    for serial, by_ts in by_device.items():
        state = states[serial]
        ordered = sorted(by_ts.items())
        last_ts = state.last_ts
        if last_ts is None or ordered[0][0] > last_ts:  # the usual case: all new
            fresh, older = ordered, []
        else:
            fresh = [item for item in ordered if item[0] > last_ts]
            older = [item for item in ordered if item[0] <= last_ts]
        device_id = state.id
        if older:
            late, buckets = _late(conn, device_id, older)
            recompute.update((device_id, bucket) for bucket in buckets)
            late_stamps[device_id] = {ts for ts, _ in late}
            result.duplicates += len(older) - len(late)
            result.late += len(late)
            rows.extend(_rows(device_id, late))
            late_seqs[device_id] = [(ts, r.seq) for ts, r in late if r.seq is not None]
        rows.extend(_rows(device_id, fresh))
        if fresh:
            _fold_fresh(state, fresh, rollup_rows, new_slots, events)
            newest = fresh[-1][1]
            firmware, ip_address = newest.firmware_version, newest.ip_address
            if not firmware or not ip_address:  # maybe in an earlier one
                firmware = firmware or next(
                    (r.firmware_version for _, r in reversed(fresh) if r.firmware_version), None
                )
                ip_address = ip_address or next(
                    (r.ip_address for _, r in reversed(fresh) if r.ip_address), None
                )
            if (
                not state.online
                or state.interval_changed
                or now_mono - state.meta_written >= DEVICE_META_EVERY_S
                or (firmware and firmware != state.firmware)
                or (ip_address and ip_address != state.ip_address)
            ):
                state.firmware = firmware or state.firmware
                state.ip_address = ip_address or state.ip_address
                if not state.online:
                    events.append(event(state.id, "online", {"reason": "reading"}))
                state.online = True
                state.meta_written = now_mono
                meta.append(
                    {
                        "b_id": state.id,
                        "b_power": newest.power,
                        "b_energy": newest.energy,
                        "b_seen": utcnow(),
                        "b_fw": firmware and firmware[:MAX_FIRMWARE_LEN],
                        "b_ip": ip_address and ip_address[:MAX_TEXT_LEN],
                        "b_interval": state.interval_s,
                    }
                )
    # Duplicates were filtered above (single writer); the ignore is a second guard.
    dialect.insert_ignore(conn, READINGS, READING_COLUMNS, rows)
    result.stored += len(rows)
    if late_seqs:
        close_gaps(conn, late_seqs)
    for device_id, ts, delta in write_rollups(conn, rollup_rows, recompute, new_slots, late_stamps):
        events.append(_counter_event(device_id, ts, delta))
    if meta:
        conn.execute(
            update(DEVICES)
            .where(DEVICES.c.id == bindparam("b_id"))
            .values(
                online=True,
                last_seen=bindparam("b_seen"),
                last_power=bindparam("b_power"),
                last_energy=bindparam("b_energy"),
                firmware_version=func.coalesce(bindparam("b_fw"), DEVICES.c.firmware_version),
                ip_address=func.coalesce(bindparam("b_ip"), DEVICES.c.ip_address),
                reading_interval_s=bindparam("b_interval"),
            ),
            meta,
        )


def _late(
    conn: Connection, device_id: int, older: list[tuple[int, Reading]]
) -> tuple[list[tuple[int, Reading]], set[int]]:
    """The readings of `older` not stored yet (the rest are redeliveries), and the
    buckets whose rollups they change: their own, and the bucket of the stored reading
    that follows each (its predecessor, hence its counter delta, changes)."""
    existing: set[int] = set()
    stamps = [ts for ts, _ in older]
    for start in range(0, len(stamps), CHUNK):
        chunk = stamps[start : start + CHUNK]
        existing.update(
            conn.execute(
                select(READINGS.c.ts).where(
                    READINGS.c.device_id == device_id, READINGS.c.ts.in_(chunk)
                )
            ).scalars()
        )
    late = [item for item in older if item[0] not in existing]
    newest_in_bucket: dict[int, int] = {}
    for ts_ms, _ in late:
        newest_in_bucket[bucket_of(ts_ms / 1000)] = ts_ms
    buckets = set(newest_in_bucket)
    for ts_ms in newest_in_bucket.values():
        nxt = conn.execute(
            select(func.min(READINGS.c.ts)).where(
                READINGS.c.device_id == device_id, READINGS.c.ts > ts_ms
            )
        ).scalar()
        if nxt is not None:
            buckets.add(bucket_of(nxt / 1000))
    return late, buckets


def _fold_fresh(
    state: DeviceState,
    fresh: list[tuple[int, Reading]],
    rollup_rows: list[RollupRow],
    new_slots: set[tuple[int, int]],
    events: list[dict[str, Any]],
) -> None:
    """Fold in-order readings into rollup rows; counter and seq anomalies become events."""
    prev = None
    if state.last_ts is not None and state.last_energy is not None:
        prev = (state.last_ts / 1000, state.last_energy)
    learn_interval(state, [ts for ts, _ in fresh])
    aggs, counter_events = aggregate(
        [(r.ts, r.voltage, r.current, r.power, r.energy, r.frequency, r.pf) for _, r in fresh],
        prev,
    )
    device_id = state.id
    rollup_rows.extend([(device_id, bucket, *stats) for bucket, stats in aggs.items()])
    # In-order readings only move forward: every bucket after the last stored
    # reading's is new (coverage counts buckets with data).
    last_bucket = -1 if state.last_ts is None else bucket_of(state.last_ts / 1000)
    new_slots.update((state.id, bucket) for bucket in aggs if bucket > last_bucket)
    for ts, delta in counter_events:
        events.append(_counter_event(state.id, ts, delta))
    last_seq, last_seq_ts = state.last_seq, state.last_ts
    for ts_ms, reading in fresh:
        seq = reading.seq
        if seq is None:
            continue
        if last_seq is not None and seq > last_seq + 1:
            events.append(
                event(state.id, "seq_gap", gap_detail(last_seq + 1, seq - 1, last_seq_ts, ts_ms))
            )
        elif last_seq is not None and seq <= last_seq:
            events.append(event(state.id, "seq_restart", {"from": last_seq, "to": seq}))
        last_seq, last_seq_ts = seq, ts_ms
    ts_ms, newest = fresh[-1]
    state.last_ts, state.last_energy, state.last_seq = ts_ms, newest.energy, last_seq


def _counter_event(device_id: int, ts: float, delta: Delta) -> dict[str, Any]:
    """A counter anomaly (reset, wrap, swap, jump) as a device event."""
    return event(
        device_id,
        delta.event or "counter",
        {
            "detail": delta.detail,
            "counted_kwh": delta.kwh,
            "at": datetime.fromtimestamp(ts, UTC).isoformat(),
        },
    )


def _rows(device_id: int, items: list[tuple[int, Reading]]) -> list[tuple[Any, ...]]:
    """``readings`` rows (in READING_COLUMNS order) of one device's (ts_ms, reading)s."""
    return [
        (
            device_id,
            ts,
            r.voltage,
            r.current,
            r.power,
            r.energy,
            r.frequency,
            r.pf,
            r.alarm,
            r.seq,
        )
        for ts, r in items
    ]
