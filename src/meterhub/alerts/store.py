"""The evaluator's database side: rules and who they cover, new readings and counter
events, opening and resolving alerts, queueing their notifications, cursors.

Everything here runs in the evaluator process (never in ingest's writer) and reads only
what ingest has committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterhub.alerts.core import Condition, describe, flag_condition
from meterhub.alerts.payload import alert_object
from meterhub.db import dialect
from meterhub.db.models import (
    ALERT_ACTIVE,
    ALERT_RESOLVED,
    DEVICE_ACTIVE,
    ROLE_ADMIN,
    Alert,
    AlertChannel,
    AlertCursor,
    AlertDelivery,
    AlertRule,
    Device,
    DeviceAssignment,
    DeviceEvent,
    Rollup15m,
    User,
)
from meterhub.db.types import utcnow

COUNTER_EVENT_KINDS = ("reset", "wrap", "jump")
EVENTS_CURSOR = 0  # the alert_cursors row holding the counter-event cursor (epoch ms)
_CHUNK = 200  # devices per query


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as plain data, with the devices it covers right now."""

    id: int
    owner_id: int
    name: str
    metric: str
    op: str
    threshold: float
    severity: str
    for_s: int
    tz: str
    channel_ids: tuple[int, ...]
    condition: Condition
    device_ids: frozenset[int]


@dataclass(slots=True)
class DeviceInfo:
    """What the evaluator needs of a device."""

    id: int
    serial: str
    last_seen: datetime | None
    interval_s: int


@dataclass(slots=True)
class Snapshot:
    """Rules, devices and open alerts as loaded at one moment."""

    rules: list[RuleSpec] = field(default_factory=list)
    devices: dict[int, DeviceInfo] = field(default_factory=dict)
    version: tuple[Any, ...] = ()


def rules_version(db: Session) -> tuple[Any, ...]:
    """Changes whenever a rule is added, edited or deleted, or an assignment changes."""
    rules = db.execute(select(func.count(AlertRule.id), func.max(AlertRule.updated_at))).one()
    assigned = db.execute(select(func.count(), func.sum(DeviceAssignment.device_id))).one()
    devices = db.execute(select(func.count(Device.id), func.max(Device.id))).one()
    return (*rules, *assigned, *devices)


def load_snapshot(db: Session) -> Snapshot:
    """Enabled rules of enabled owners with the devices each covers: a rule's own device
    if its owner may (still) see it, else every device the owner may see. The access rule
    is the API's: admins every device, users their assigned active ones."""
    version = rules_version(db)
    devices = {
        row.id: DeviceInfo(row.id, row.serial_number, row.last_seen, row.reading_interval_s)
        for row in db.execute(
            select(
                Device.id, Device.serial_number, Device.last_seen, Device.reading_interval_s
            ).where(Device.status == DEVICE_ACTIVE)
        )
    }
    owners = {
        row.id: row.role == ROLE_ADMIN
        for row in db.execute(select(User.id, User.role).where(User.disabled.is_(False)))
    }
    assigned: dict[int, set[int]] = {}
    for user_id, device_id in db.execute(
        select(DeviceAssignment.user_id, DeviceAssignment.device_id)
    ):
        assigned.setdefault(user_id, set()).add(device_id)
    everything = frozenset(devices)
    rules: list[RuleSpec] = []
    for rule in db.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))):
        if rule.owner_id not in owners:
            continue
        visible = (
            everything if owners[rule.owner_id] else everything & assigned.get(rule.owner_id, set())
        )
        covered = visible if rule.device_id is None else visible & frozenset({rule.device_id})
        rules.append(spec_of(rule, frozenset(covered)))
    return Snapshot(rules, devices, version)


def spec_of(rule: AlertRule, device_ids: frozenset[int]) -> RuleSpec:
    """A rule row as plain data."""
    from meterhub.alerts.core import FLAG_METRICS

    condition = (
        flag_condition(rule.metric, rule.for_s)
        if rule.metric in FLAG_METRICS
        else Condition(rule.metric, rule.op, rule.threshold, rule.clear_threshold, rule.for_s)
    )
    return RuleSpec(
        id=rule.id,
        owner_id=rule.owner_id,
        name=rule.name,
        metric=rule.metric,
        op=rule.op,
        threshold=rule.threshold,
        severity=rule.severity,
        for_s=rule.for_s,
        tz=rule.tz,
        channel_ids=tuple(rule.channel_ids or ()),
        condition=condition,
        device_ids=device_ids,
    )


def open_alerts(db: Session) -> dict[tuple[int, int], int]:
    """(rule id, device id) -> alert id of every alert not resolved."""
    rows = db.execute(
        select(Alert.rule_id, Alert.device_id, Alert.id).where(Alert.open_key.is_not(None))
    )
    return {(r, d): a for r, d, a in rows}


def last_transitions(db: Session, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """(rule id, device id) -> epoch s of its latest recorded opening or resolution."""
    out: dict[tuple[int, int], float] = {}
    rows = db.execute(
        select(
            Alert.rule_id,
            Alert.device_id,
            func.max(Alert.opened_at),
            func.max(Alert.resolved_at),
        ).group_by(Alert.rule_id, Alert.device_id)
    )
    for rule_id, device_id, opened, resolved in rows:
        if (rule_id, device_id) in pairs:
            stamps = [_epoch(t) for t in (opened, resolved) if t is not None]
            out[(rule_id, device_id)] = max(stamps)
    return out


def _epoch(value: Any) -> float:
    """max() over a UTCDateTime column comes back as text on SQLite: parse both forms."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


def load_cursors(db: Session) -> dict[int, int]:
    """device id -> newest reading evaluated (epoch ms); EVENTS_CURSOR for events."""
    return {row.device_id: row.ts for row in db.scalars(select(AlertCursor))}


def save_cursors(db: Session, cursors: dict[int, int]) -> None:
    """Persist cursors (in the transaction that records what they led to)."""
    if cursors:
        dialect.upsert_replacing(
            db.connection(),
            AlertCursor.__table__,  # type: ignore[arg-type]
            [{"device_id": d, "ts": ts} for d, ts in sorted(cursors.items())],
            ("device_id",),
        )


READING_COLUMNS = ("voltage", "current", "power", "energy", "frequency", "pf", "alarm")


def new_readings(
    db: Session, since: dict[int, int], limit: int, upto: dict[int, int] | None = None
) -> list[tuple[int, int, dict[str, Any]]]:
    """(device id, ts ms, values) of readings newer than each device's cursor, by device
    and time; at most `limit` per chunk of devices (the rest come next time).

    One statement per chunk: the cursors as a VALUES list joined to the readings'
    primary key (device_id, ts), so each device costs one index range scan. The same SQL
    on both databases; CROSS JOIN keeps SQLite from scanning readings first. Built with
    SQLAlchemy expressions, the OR of 200 (device, ts) pairs took longer to build than
    to run."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    items = sorted(since.items())
    conn = db.connection()
    columns = ", ".join(f"r.{c}" for c in READING_COLUMNS)
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        top = upto or {}
        pairs = _pairs([(d, ts, top.get(d, 2**62)) for d, ts in chunk])
        sql = (
            f"WITH c(d, t, u) AS (VALUES {pairs}) "  # noqa: S608 - our own integers
            f"SELECT r.device_id, r.ts, {columns} FROM c CROSS JOIN readings r "
            "WHERE r.device_id = c.d AND r.ts > c.t AND r.ts <= c.u "
            f"ORDER BY r.device_id, r.ts LIMIT {int(limit)}"
        )
        for row in conn.exec_driver_sql(sql):
            values = dict(zip(READING_COLUMNS, row[2:], strict=True))
            out.append((row[0], row[1], values))
    return out


def _pairs(items: list[tuple[int, ...]]) -> str:
    return ", ".join("(" + ", ".join(str(int(v)) for v in row) + ")" for row in items)


def newest_ts(db: Session, device_ids: list[int]) -> dict[int, int]:
    """device id -> time (ms) of its newest stored reading (one index lookup each)."""
    out: dict[int, int] = {}
    conn = db.connection()
    ids = sorted(device_ids)
    for start in range(0, len(ids), _CHUNK):
        values = _pairs([(d,) for d in ids[start : start + _CHUNK]])
        sql = (
            f"WITH c(d) AS (VALUES {values}) "  # noqa: S608 - our own integers
            "SELECT c.d, (SELECT max(r.ts) FROM readings r WHERE r.device_id = c.d) FROM c"
        )
        out.update({d: ts for d, ts in conn.exec_driver_sql(sql) if ts is not None})
    return out


def first_moving(db: Session, ranges: dict[int, tuple[int, int]], predicate: str) -> dict[int, int]:
    """device id -> time (ms) of its first reading in (since, upto] meeting `predicate`
    (SQL over `r`, built from our own column names and numbers): the first reading that
    can change an alert's state. The database skips the others without Python seeing
    them."""
    out: dict[int, int] = {}
    conn = db.connection()
    items = sorted(ranges.items())
    for start in range(0, len(items), _CHUNK):
        values = _pairs([(d, lo, hi) for d, (lo, hi) in items[start : start + _CHUNK]])
        sql = (
            f"WITH c(d, t, u) AS (VALUES {values}) "  # noqa: S608
            "SELECT c.d, min(r.ts) FROM c CROSS JOIN readings r "
            f"WHERE r.device_id = c.d AND r.ts > c.t AND r.ts <= c.u AND ({predicate}) "
            "GROUP BY c.d"
        )
        out.update({d: ts for d, ts in conn.exec_driver_sql(sql) if ts is not None})
    return out


def day_energy_kwh(db: Session, device_id: int, since_s: int) -> float:
    """Energy used by the device from `since_s` (a local midnight, epoch s) on, from the
    15-minute rollups ingest keeps (counter resets already handled there). Every zone's
    midnight is on a quarter-hour, so the buckets add up to the local day exactly."""
    wh = db.scalar(
        select(func.coalesce(func.sum(Rollup15m.energy_wh), 0)).where(
            Rollup15m.device_id == device_id, Rollup15m.bucket >= since_s
        )
    )
    return float(wh or 0) / 1000.0


def counter_events(
    db: Session, since: datetime, device_ids: Iterable[int]
) -> list[tuple[int, int, datetime, str]]:
    """(event id, device id, time, kind) of counter resets/wraps/jumps since `since`."""
    ids = sorted(set(device_ids))
    out: list[tuple[int, int, datetime, str]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        out += [
            (row.id, row.device_id, row.ts, row.kind)
            for row in db.execute(
                select(DeviceEvent.id, DeviceEvent.device_id, DeviceEvent.ts, DeviceEvent.kind)
                .where(
                    DeviceEvent.ts >= since,
                    DeviceEvent.kind.in_(COUNTER_EVENT_KINDS),
                    DeviceEvent.device_id.in_(chunk),
                )
                .order_by(DeviceEvent.ts, DeviceEvent.id)
            )
        ]
    return out


def open_alert(
    db: Session, rule: RuleSpec, device: DeviceInfo, value: float | None, at: datetime
) -> Alert | None:
    """Open the alert of (rule, device) and queue its notifications; None when one is
    open already (the unique open key said so: a second evaluator, or a restart)."""
    alert = Alert(
        rule_id=rule.id,
        device_id=device.id,
        owner_id=rule.owner_id,
        serial=device.serial,
        metric=rule.metric,
        severity=rule.severity,
        state=ALERT_ACTIVE,
        value=value,
        message=f"{rule.name}: {_describe(rule, value, device.serial)}"[:512],
        opened_at=at,
        open_key=f"{rule.id}:{device.id}",
        updated_at=utcnow(),
    )
    try:
        with db.begin_nested():
            db.add(alert)
            db.flush()
    except IntegrityError:
        return None
    queue_notifications(db, alert, rule.owner_id, rule.channel_ids, "opened")
    return alert


def _describe(rule: RuleSpec, value: float | None, serial: str) -> str:
    return describe(rule.metric, rule.op, rule.threshold, value, serial)


def resolve_alert(
    db: Session,
    alert_id: int,
    value: float | None,
    at: datetime,
    owner_id: int,
    channel_ids: Sequence[int],
    notify: bool = True,
) -> Alert | None:
    """Resolve an open alert (freeing its open key) and queue its notifications."""
    alert = db.get(Alert, alert_id)
    if alert is None or alert.state == ALERT_RESOLVED:
        return None
    alert.state = ALERT_RESOLVED
    alert.resolved_at = at
    alert.open_key = None
    alert.updated_at = utcnow()
    if value is not None:
        alert.value = value
    db.flush()
    if notify:
        queue_notifications(db, alert, owner_id, channel_ids, "resolved")
    return alert


def queue_notifications(
    db: Session, alert: Alert, owner_id: int, channel_ids: Sequence[int], event: str
) -> int:
    """One pending delivery per enabled channel of the owner named by the rule (a channel
    of someone else is never used, whatever the rule says)."""
    if not channel_ids:
        return 0
    channels = db.scalars(
        select(AlertChannel.id).where(
            AlertChannel.id.in_(list(channel_ids)),
            AlertChannel.owner_id == owner_id,
            AlertChannel.enabled.is_(True),
        )
    ).all()
    body = {**alert_object(alert), "event": event}
    for channel_id in channels:
        db.add(AlertDelivery(alert_id=alert.id, channel_id=channel_id, event=event, payload=body))
    return len(channels)


def resolve_quietly(db: Session, alert_ids: Sequence[int]) -> int:
    """Resolve open alerts without notifying: their rule was disabled or deleted, or no
    longer covers the device (unassigned, owner disabled)."""
    if not alert_ids:
        return 0
    now = utcnow()
    result = db.execute(
        update(Alert)
        .where(Alert.id.in_(list(alert_ids)), Alert.open_key.is_not(None))
        .values(state=ALERT_RESOLVED, resolved_at=now, open_key=None, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def epoch_ms_to_dt(ts_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC)
