"""The database side of ingest: one call writes one batch in one transaction.

Readings go in with bulk inserts that ignore duplicates (the primary key is (device, ts),
so a redelivered message is harmless). Rollups are maintained in the same transaction:
readings newer than a device's last stored one are folded in incrementally; late readings
(a backlog flush, out-of-order delivery) make their buckets be recomputed from raw rows.
Only the writer thread calls this; the per-device state it caches is applied after commit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.db.models import (
    DEVICE_PENDING,
    Device,
    DeviceCommand,
    DeviceEvent,
    IngestCounter,
    IngestReject,
    Rollup1d,
    Rollup1h,
    Rollup15m,
)
from meterhub.db.models import (
    Reading as ReadingRow,
)
from meterhub.db.types import utcnow
from meterhub.protocol.readings import Reading
from meterhub.protocol.rejects import Reject
from meterhub.protocol.rules import OFFLINE_AFTER_INTERVALS
from meterhub.protocol.status import CommandAck, StatusUpdate
from meterhub.telemetry.periods import QUARTER_HOUR_S
from meterhub.telemetry.rollup import (
    ADD_COLUMNS,
    COARSE_ADD_COLUMNS,
    COARSE_COLUMNS,
    DAY_S,
    HIGH_COLUMNS,
    HOUR_S,
    LOW_COLUMNS,
    ROLLUP_COLUMNS,
    RollupRow,
    aggregate,
    bucket_of,
    coarsen,
)

log = logging.getLogger(__name__)

READINGS: Table = ReadingRow.__table__  # type: ignore[assignment]
ROLLUPS: Table = Rollup15m.__table__  # type: ignore[assignment]
DEVICES: Table = Device.__table__  # type: ignore[assignment]
EVENTS: Table = DeviceEvent.__table__  # type: ignore[assignment]
REJECTS: Table = IngestReject.__table__  # type: ignore[assignment]
COMMANDS: Table = DeviceCommand.__table__  # type: ignore[assignment]
COUNTERS: Table = IngestCounter.__table__  # type: ignore[assignment]
COARSE: dict[int, Table] = {
    HOUR_S: Rollup1h.__table__,  # type: ignore[dict-item]
    DAY_S: Rollup1d.__table__,  # type: ignore[dict-item]
}
KEYS = ("device_id", "bucket")
READING_COLUMNS = (
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
INT_COLUMNS = frozenset({"slots", "count", "energy_wh", "pf_count", "frequency_count"})
DEVICE_META_EVERY_S = 5.0  # write last_seen/last_power at most this often per device
MAX_REJECTS = 10_000  # the dead-letter table keeps the newest this many
MAX_PENDING_DEVICES = 200  # unknown serials beyond this are refused (dead letters), not kept
GAPS_TO_LEARN = 5  # consecutive longer (or shorter) gaps before the interval follows


@dataclass(slots=True)
class DeviceState:
    """What the writer remembers of a device between batches."""

    id: int
    status: str
    online: bool
    interval_s: int
    last_ts: int | None = None  # epoch ms of the newest stored reading
    last_energy: float | None = None
    last_seq: int | None = None
    firmware: str | None = None
    ip_address: str | None = None
    meta_written: float = 0.0  # monotonic time of the last devices-row update
    slow_gaps: list[float] = field(default_factory=list)  # recent gaps off the interval
    interval_changed: bool = False
    topic_id: str | None = None  # the <id> of its topics, when not its serial


@dataclass(slots=True)
class Batch:
    """Work for one transaction."""

    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    acks: list[CommandAck] = field(default_factory=list)
    sweep: bool = False  # also mark silent devices offline
    topic_ids: dict[str, str] = field(default_factory=dict)  # serial -> the <id> it used


@dataclass(slots=True)
class WriteResult:
    """What one batch did (counted into /metrics)."""

    stored: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    events: int = 0
    new_devices: list[str] = field(default_factory=list)


class TelemetryStore:
    """Writes batches; caches device state (serial -> DeviceState) across batches."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.devices: dict[str, DeviceState] = {}
        self._serial_of_topic: dict[str, str] | None = None  # topic id -> serial, if not it

    def write(self, batch: Batch) -> WriteResult:
        """Store `batch` in one transaction; the cached state is dropped if it fails."""
        try:
            return self._write(batch)
        except BaseException:
            self.forget()  # cached states may hold this failed batch's changes
            raise

    def _write(self, batch: Batch) -> WriteResult:
        staged: dict[str, DeviceState] = {}
        result = WriteResult()
        events: list[dict[str, Any]] = []
        rejects = list(batch.rejects)
        with self.engine.begin() as conn:
            statuses = self._resolve_statuses(conn, batch.statuses)
            serials = {r.serial for r in batch.readings}
            serials |= {s.serial for s in statuses if s.serial}
            refused: set[str] = set()
            self._load_states(conn, [x for x in serials if x not in self.devices])
            for serial in serials:
                state = self._state(conn, serial, result, events)
                if state is None:
                    refused.add(serial)
                else:
                    staged[serial] = state
            learned = self._learn_topic_ids(conn, batch.topic_ids, staged)
            readings = batch.readings
            if refused:
                rejects += _refused(refused, readings, statuses)
                readings = [r for r in readings if r.serial not in refused]
                statuses = [s for s in statuses if s.serial not in refused]
            self._write_readings(conn, readings, staged, result, events)
            self._write_statuses(conn, statuses, staged, events)
            if batch.sweep:
                self._sweep_silent(conn, events)
            if events:
                conn.execute(insert(EVENTS), events)
            self._write_rejects(conn, rejects)
            self._write_acks(conn, batch.acks)
            result.rejected = len(rejects)
            result.events = len(events)
            self._count(conn, batch, result, rejects)
        self.devices.update(staged)
        if learned and self._serial_of_topic is not None:
            aliases = self._serial_of_topic
            for serial, topic_id in learned.items():
                for old in [t for t, s in aliases.items() if s == serial]:
                    del aliases[old]
                if topic_id is not None:
                    aliases[topic_id] = serial
        return result

    def _count(
        self, conn: Connection, batch: Batch, result: WriteResult, rejects: list[Reject]
    ) -> None:
        counts = {
            "batches": 1,
            "readings_stored": result.stored,
            "readings_duplicate": result.duplicates,
            "readings_late": result.late,
            "device_events": result.events,
            "status_messages": len(batch.statuses),
            "command_acks": len(batch.acks),
        }
        for reject in rejects:
            key = f"rejects_{reject.reason}"
            counts[key] = counts.get(key, 0) + 1
        dialect.upsert_adding(
            conn,
            COUNTERS,
            ("name", "value"),
            [(k, v) for k, v in sorted(counts.items()) if v],
            ("name",),
            ("value",),
        )

    def forget(self) -> None:
        """Drop cached state (after a failed transaction whose effects are unknown)."""
        self.devices.clear()
        self._serial_of_topic = None

    # -- topic ids ---------------------------------------------------------------------
    def _resolve_statuses(
        self, conn: Connection, statuses: list[StatusUpdate]
    ) -> list[StatusUpdate]:
        """A status that names no serial (a last will's plain "offline") belongs to the
        device known to publish on its topic id, when that is not a device's serial."""
        if not any(s.serial == s.device_id for s in statuses):
            return statuses
        if self._serial_of_topic is None:
            self._serial_of_topic = {
                topic_id: serial
                for serial, topic_id in conn.execute(
                    select(DEVICES.c.serial_number, DEVICES.c.topic_id).where(
                        DEVICES.c.topic_id.is_not(None)
                    )
                )
            }
        aliases = self._serial_of_topic
        if not aliases:
            return statuses
        return [
            replace(s, serial=aliases[s.device_id])
            if s.serial == s.device_id
            and s.device_id in aliases
            and not self._is_device(conn, s.device_id)
            else s
            for s in statuses
        ]

    def _is_device(self, conn: Connection, serial: str) -> bool:
        """Whether a device has this serial (then a topic id equal to it is its own)."""
        return (
            serial in self.devices
            or conn.execute(select(DEVICES.c.id).where(DEVICES.c.serial_number == serial)).first()
            is not None
        )

    def _learn_topic_ids(
        self, conn: Connection, topic_ids: dict[str, str], states: dict[str, DeviceState]
    ) -> dict[str, str | None]:
        """Record where devices publish when it changed: {serial: topic id, or None when it
        is the serial again}."""
        learned: dict[str, str | None] = {}
        for serial, topic_id in topic_ids.items():
            state = states.get(serial)
            wanted = None if topic_id == serial else topic_id
            if state is None or state.topic_id == wanted:
                continue
            conn.execute(update(DEVICES).where(DEVICES.c.id == state.id).values(topic_id=wanted))
            log.info("device %s publishes on meter/%s/...", serial, topic_id)
            state.topic_id = learned[serial] = wanted
        return learned

    # -- devices ---------------------------------------------------------------------
    def _load_states(self, conn: Connection, serials: list[str]) -> None:
        """Cache the states of the known devices among `serials` with two queries (not
        two per device: after a restart every device is new to the cache at once)."""
        for start in range(0, len(serials), 500):
            chunk = serials[start : start + 500]
            found = {
                row.id: row
                for row in conn.execute(
                    select(
                        DEVICES.c.id,
                        DEVICES.c.serial_number,
                        DEVICES.c.status,
                        DEVICES.c.online,
                        DEVICES.c.reading_interval_s,
                        DEVICES.c.firmware_version,
                        DEVICES.c.ip_address,
                        DEVICES.c.topic_id,
                    ).where(DEVICES.c.serial_number.in_(chunk))
                )
            }
            if not found:
                continue
            newest = (
                select(func.max(READINGS.c.ts))
                .where(READINGS.c.device_id == DEVICES.c.id)
                .correlate(DEVICES)
                .scalar_subquery()
            )
            latest = (
                select(DEVICES.c.id, newest.label("ts"))
                .where(DEVICES.c.id.in_(list(found)))
                .subquery()
            )
            last = {
                row.device_id: row
                for row in conn.execute(
                    select(
                        READINGS.c.device_id, READINGS.c.ts, READINGS.c.energy, READINGS.c.seq
                    ).join(
                        latest,
                        (READINGS.c.device_id == latest.c.id) & (READINGS.c.ts == latest.c.ts),
                    )
                )
            }
            for device_id, row in found.items():
                state = DeviceState(
                    id=device_id,
                    status=row.status,
                    online=row.online,
                    interval_s=row.reading_interval_s,
                    firmware=row.firmware_version,
                    ip_address=row.ip_address,
                    topic_id=row.topic_id,
                )
                reading = last.get(device_id)
                if reading is not None:
                    state.last_ts, state.last_energy = reading.ts, reading.energy
                    state.last_seq = reading.seq
                self.devices[row.serial_number] = state

    def _state(
        self, conn: Connection, serial: str, result: WriteResult, events: list[dict[str, Any]]
    ) -> DeviceState | None:
        """The device's state (cached, see `_load_states`); a new serial becomes a pending
        device, unless too many are pending already (None: its data is refused, as a
        dead letter)."""
        cached = self.devices.get(serial)
        if cached is not None:
            return cached  # mutated in place: write() forgets all state if it fails
        pending = (
            conn.execute(
                select(func.count()).select_from(DEVICES).where(DEVICES.c.status == DEVICE_PENDING)
            ).scalar()
            or 0
        )
        if pending >= MAX_PENDING_DEVICES:
            return None
        now = utcnow()
        device_id = conn.execute(
            insert(DEVICES)
            .values(
                serial_number=serial,
                status=DEVICE_PENDING,
                online=False,
                reading_interval_s=10,
                created_at=now,
                updated_at=now,
            )
            .returning(DEVICES.c.id)
        ).scalar_one()
        result.new_devices.append(serial)
        events.append(_event(device_id, "pending", {"reason": "unknown serial published"}))
        log.info("new device %s is pending approval", serial)
        return DeviceState(id=device_id, status=DEVICE_PENDING, online=False, interval_s=10)

    # -- readings and rollups --------------------------------------------------------
    def _write_readings(
        self,
        conn: Connection,
        readings: list[Reading],
        states: dict[str, DeviceState],
        result: WriteResult,
        events: list[dict[str, Any]],
    ) -> None:
        if not readings:
            return
        by_device: dict[str, dict[int, Reading]] = {}
        for reading in readings:
            by_device.setdefault(reading.serial, {})[reading.ts_ms] = reading
        result.duplicates += len(readings) - sum(len(v) for v in by_device.values())
        rows: list[tuple[Any, ...]] = []
        rollup_rows: list[RollupRow] = []
        recompute: set[tuple[int, int]] = set()
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
                late, buckets = self._late(conn, device_id, older)
                recompute.update((device_id, bucket) for bucket in buckets)
                result.duplicates += len(older) - len(late)
                result.late += len(late)
                rows.extend(
                    [
                        (
                            device_id,
                            ts_ms,
                            r.voltage,
                            r.current,
                            r.power,
                            r.energy,
                            r.frequency,
                            r.pf,
                            r.alarm,
                            r.seq,
                        )
                        for ts_ms, r in late
                    ]
                )
            rows.extend(
                [
                    (
                        device_id,
                        ts_ms,
                        r.voltage,
                        r.current,
                        r.power,
                        r.energy,
                        r.frequency,
                        r.pf,
                        r.alarm,
                        r.seq,
                    )
                    for ts_ms, r in fresh
                ]
            )
            if fresh:
                self._fold_fresh(state, fresh, rollup_rows, new_slots, events)
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
                        events.append(_event(state.id, "online", {"reason": "reading"}))
                    state.online = True
                    state.meta_written = now_mono
                    meta.append(
                        {
                            "b_id": state.id,
                            "b_power": newest.power,
                            "b_energy": newest.energy,
                            "b_seen": utcnow(),
                            "b_fw": firmware and firmware[:32],
                            "b_ip": ip_address and ip_address[:64],
                            "b_interval": state.interval_s,
                        }
                    )
        # Duplicates were filtered above (single writer); the ignore is a second guard.
        dialect.insert_ignore(conn, READINGS, READING_COLUMNS, rows)
        result.stored += len(rows)
        self._write_rollups(conn, rollup_rows, recompute, new_slots)
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
        self, conn: Connection, device_id: int, older: list[tuple[int, Reading]]
    ) -> tuple[list[tuple[int, Reading]], set[int]]:
        """The readings of `older` not stored yet (the rest are redeliveries), and the
        buckets whose rollups they change: their own, and the bucket of the stored reading
        that follows each (its predecessor, hence its counter delta, changes)."""
        existing: set[int] = set()
        stamps = [ts for ts, _ in older]
        for start in range(0, len(stamps), 500):
            chunk = stamps[start : start + 500]
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
        self,
        state: DeviceState,
        fresh: list[tuple[int, Reading]],
        rollup_rows: list[RollupRow],
        new_slots: set[tuple[int, int]],
        events: list[dict[str, Any]],
    ) -> None:
        prev = None
        if state.last_ts is not None and state.last_energy is not None:
            prev = (state.last_ts / 1000, state.last_energy)
        _learn_interval(state, [ts for ts, _ in fresh])
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
            events.append(
                _event(
                    state.id,
                    delta.event or "counter",
                    {
                        "detail": delta.detail,
                        "counted_kwh": delta.kwh,
                        "at": datetime.fromtimestamp(ts, UTC).isoformat(),
                    },
                )
            )
        last_seq = state.last_seq
        for _, reading in fresh:
            seq = reading.seq
            if seq is None:
                continue
            if last_seq is not None and seq > last_seq + 1:
                events.append(
                    _event(
                        state.id,
                        "seq_gap",
                        {
                            "missing_from": last_seq + 1,
                            "missing_to": seq - 1,
                            "missing": seq - last_seq - 1,
                        },
                    )
                )
            elif last_seq is not None and seq <= last_seq:
                events.append(_event(state.id, "seq_restart", {"from": last_seq, "to": seq}))
            last_seq = seq
        ts_ms, newest = fresh[-1]
        state.last_ts, state.last_energy, state.last_seq = ts_ms, newest.energy, last_seq

    def _write_rollups(
        self,
        conn: Connection,
        rows: list[RollupRow],
        recompute: set[tuple[int, int]],
        new_slots: set[tuple[int, int]],
    ) -> None:
        """15-minute rows are added (or recomputed from raw rows for late readings), and
        the hourly and daily rows follow: added from the same partial aggregates, or
        recomputed from the 15-minute table where a late reading landed."""
        incremental = [r for r in rows if (r[0], r[1]) not in recompute] if recompute else rows
        dialect.upsert_adding(
            conn, ROLLUPS, ROLLUP_COLUMNS, incremental, KEYS, ADD_COLUMNS, LOW_COLUMNS, HIGH_COLUMNS
        )
        for device_id, bucket in sorted(recompute):
            self._recompute_bucket(conn, device_id, bucket)
        for width, table in COARSE.items():
            redo = {(d, b // width * width) for d, b in recompute}
            coarse = coarsen(incremental, width, new_slots)
            if redo:
                coarse = [r for r in coarse if (r[0], r[1]) not in redo]
            dialect.upsert_adding(
                conn,
                table,
                COARSE_COLUMNS,
                coarse,
                KEYS,
                COARSE_ADD_COLUMNS,
                LOW_COLUMNS,
                HIGH_COLUMNS,
            )
            for device_id, bucket in sorted(redo):
                self._recompute_coarse(conn, table, width, device_id, bucket)

    def _recompute_coarse(
        self, conn: Connection, table: Table, width: int, device_id: int, bucket: int
    ) -> None:
        g = ROLLUPS.c
        sums = [func.sum(g[c]) for c in ADD_COLUMNS]
        row = conn.execute(
            select(
                func.count(),
                *sums,
                *(func.min(g[c]) for c in LOW_COLUMNS),
                *(func.max(g[c]) for c in HIGH_COLUMNS),
            ).where(g.device_id == device_id, g.bucket >= bucket, g.bucket < bucket + width)
        ).one()
        if not row[0]:
            return
        names = ("slots", *ADD_COLUMNS, *LOW_COLUMNS, *HIGH_COLUMNS)
        values = {name: value for name, value in zip(names, row, strict=True)}
        values = {k: (int(v) if k in INT_COLUMNS else float(v)) for k, v in values.items()}
        dialect.upsert_replacing(
            conn, table, [{"device_id": device_id, "bucket": bucket, **values}], KEYS
        )

    def _recompute_bucket(self, conn: Connection, device_id: int, bucket: int) -> None:
        start_ms, end_ms = bucket * 1000, (bucket + QUARTER_HOUR_S) * 1000
        before = conn.execute(
            select(READINGS.c.ts, READINGS.c.energy)
            .where(READINGS.c.device_id == device_id, READINGS.c.ts < start_ms)
            .order_by(READINGS.c.ts.desc())
            .limit(1)
        ).first()
        rows = conn.execute(
            select(
                READINGS.c.ts,
                READINGS.c.voltage,
                READINGS.c.current,
                READINGS.c.power,
                READINGS.c.energy,
                READINGS.c.frequency,
                READINGS.c.pf,
            )
            .where(
                READINGS.c.device_id == device_id, READINGS.c.ts >= start_ms, READINGS.c.ts < end_ms
            )
            .order_by(READINGS.c.ts)
        ).all()
        prev = (before.ts / 1000, before.energy) if before is not None else None
        aggs, _ = aggregate(((r[0] / 1000, *r[1:]) for r in rows), prev)
        dialect.upsert_replacing(
            conn,
            ROLLUPS,
            [
                dict(zip(ROLLUP_COLUMNS, (device_id, b, *stats), strict=True))
                for b, stats in aggs.items()
            ],
            KEYS,
        )

    # -- statuses, sweeps, dead letters, acks ----------------------------------------
    def _write_statuses(
        self,
        conn: Connection,
        statuses: list[StatusUpdate],
        states: dict[str, DeviceState],
        events: list[dict[str, Any]],
    ) -> None:
        for status in statuses:
            if status.serial is None:
                continue
            state = states[status.serial]
            values: dict[str, Any] = {"online": status.online}
            for key in ("firmware_version", "ip_address", "free_mem"):
                if getattr(status, key) is not None:
                    values[key] = getattr(status, key)
            if status.rssi is not None:
                values["rssi"] = int(status.rssi)
            if status.uptime_s is not None:
                values["uptime_s"] = int(status.uptime_s)
            interval = status.extra.get("interval_s") or status.extra.get("reading_interval")
            if type(interval) is int and 1 <= interval <= 86400:
                values["reading_interval_s"] = state.interval_s = interval
            if status.online:
                values["last_seen"] = utcnow()
            conn.execute(update(DEVICES).where(DEVICES.c.id == state.id).values(**values))
            if status.online != state.online:
                events.append(
                    _event(
                        state.id,
                        "online" if status.online else "offline",
                        {"reason": "status message", "state": status.state},
                    )
                )
            state.online = status.online

    def _sweep_silent(self, conn: Connection, events: list[dict[str, Any]]) -> None:
        """Mark devices offline that stayed silent for three reading intervals."""
        now = utcnow()
        silent = conn.execute(
            select(
                DEVICES.c.id,
                DEVICES.c.serial_number,
                DEVICES.c.last_seen,
                DEVICES.c.reading_interval_s,
            ).where(DEVICES.c.online.is_(True))
        ).all()
        for row in silent:
            limit = OFFLINE_AFTER_INTERVALS * row.reading_interval_s + DEVICE_META_EVERY_S
            if row.last_seen is None or (now - row.last_seen).total_seconds() > limit:
                conn.execute(update(DEVICES).where(DEVICES.c.id == row.id).values(online=False))
                events.append(_event(row.id, "offline", {"reason": "silent", "limit_s": limit}))
                cached = self.devices.get(row.serial_number)
                if cached is not None:
                    cached.online = False

    def _write_rejects(self, conn: Connection, rejects: list[Reject]) -> None:
        if not rejects:
            return
        conn.execute(
            insert(REJECTS),
            [
                {
                    "ts": datetime.fromtimestamp(r.received_at, UTC) if r.received_at else utcnow(),
                    "topic": r.topic[:256],
                    "serial": r.serial,
                    "reason": r.reason,
                    "detail": r.detail[:512],
                    "payload": r.raw,
                }
                for r in rejects
            ],
        )
        newest = conn.execute(select(func.max(REJECTS.c.id))).scalar() or 0
        if newest > MAX_REJECTS:
            conn.execute(REJECTS.delete().where(REJECTS.c.id <= newest - MAX_REJECTS))

    def _write_acks(self, conn: Connection, acks: list[CommandAck]) -> None:
        for ack in acks:
            conn.execute(
                update(COMMANDS)
                .where(
                    COMMANDS.c.id == ack.command_id,
                    COMMANDS.c.status == "pending",
                    COMMANDS.c.device_id.in_(  # the device listening on that topic id
                        select(DEVICES.c.id).where(
                            (DEVICES.c.serial_number == ack.device_id)
                            | (DEVICES.c.topic_id == ack.device_id)
                        )
                    ),
                )
                .values(
                    status="acked" if ack.ok else "failed", error=ack.error, answered_at=utcnow()
                )
            )


def _event(device_id: int, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"device_id": device_id, "ts": utcnow(), "kind": kind, "detail": detail}


def _learn_interval(state: DeviceState, stamps_ms: list[int]) -> None:
    """Follow the device's real reading interval (the original firmware does not report it),
    so that "offline after three silent intervals" fits slow devices too. It changes only
    after several consecutive gaps all longer (or all shorter) than it: a missed reading
    or a quick retry is not a new interval."""
    state.interval_changed = False
    last = state.last_ts
    for ts in stamps_ms:
        if last is not None:
            gap = (ts - last) / 1000
            shorter = 1 <= gap < state.interval_s * 0.75
            longer = state.interval_s * 1.5 < gap <= 86_400
            if shorter or longer:
                if state.slow_gaps and (state.slow_gaps[-1] < state.interval_s) != shorter:
                    state.slow_gaps.clear()  # the other direction: start counting again
                state.slow_gaps.append(gap)
                if len(state.slow_gaps) >= GAPS_TO_LEARN:
                    state.interval_s = max(
                        1, round(min(state.slow_gaps) if longer else max(state.slow_gaps))
                    )
                    state.interval_changed = True
                    state.slow_gaps.clear()
            else:
                state.slow_gaps.clear()
        last = ts


def _refused(
    serials: set[str], readings: list[Reading], statuses: list[StatusUpdate]
) -> list[Reject]:
    """One dead letter per refused unknown serial (not one per reading: bounded)."""
    out = []
    for serial in sorted(serials):
        mine = [r for r in readings if r.serial == serial]
        first = mine[0] if mine else None
        raw = orjson.dumps(
            {
                "serial_number": serial,
                "readings": len(mine),
                "statuses": sum(1 for st in statuses if st.serial == serial),
                "first_ts": first.ts if first else None,
            }
        ).decode()
        out.append(
            Reject(
                reason="too_many_pending",
                detail=f"data from unknown serial {serial} refused ({len(mine)} reading(s)): "
                f"{MAX_PENDING_DEVICES} devices already wait for approval; approve or "
                "delete pending devices",
                topic=f"meter/{serial}/{'data' if mine else 'status'}",
                raw=raw,
                received_at=time.time(),
                serial=serial,
            )
        )
    return out
