"""Rules, channels and alerts as the API manages them, with the access rule.

Owners: a user manages the rules and channels they created, for devices they may see;
admins manage everyone's. Alerts follow the readings' access rule: a user sees (and
acknowledges) the alerts of devices they may see; an admin sees all. Anything else is "not found",
never "forbidden": a user never learns that another user's device, rule or alert exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from meterhub.alerts.core import CHANNEL_KINDS as KINDS
from meterhub.alerts.core import FLAG_METRICS, MQTT_TOPIC_PREFIX, validate
from meterhub.db.models import (
    ALERT_ACKNOWLEDGED,
    ALERT_ACTIVE,
    DEVICE_ACTIVE,
    Alert,
    AlertAttempt,
    AlertChannel,
    AlertDelivery,
    AlertRule,
    Device,
    DeviceAssignment,
    User,
)
from meterhub.db.types import utcnow
from meterhub.errors import Conflict, InvalidInput, NotFound
from meterhub.services import audit, devices

STATES = ("active", "acknowledged", "resolved")


# -- channels ------------------------------------------------------------------------------
def check_channel(kind: str, target: str, secret: str | None) -> None:
    """InvalidInput unless (kind, target) can be delivered to."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if kind in ("webhook", "ntfy"):
        url = urlsplit(target)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InvalidInput("url must be an http:// or https:// address", field="url")
    elif kind == "email":
        if "@" not in target or any(c in target for c in " ,;\r\n<>"):
            raise InvalidInput("to must be one e-mail address", field="to")
    elif kind == "mqtt" and (
        not target.startswith(MQTT_TOPIC_PREFIX)
        or any(c in target for c in "#+\0")
        or len(target) <= len(MQTT_TOPIC_PREFIX)
    ):
        raise InvalidInput(
            f"topic must start with {MQTT_TOPIC_PREFIX} and hold no wildcards", field="topic"
        )
    if kind == "webhook" and secret is not None and len(secret) < 16:
        raise InvalidInput("secret must be at least 16 characters", field="secret")


def _owned(query: Select[Any], model: Any, user: User) -> Select[Any]:
    return query if user.is_admin else query.where(model.owner_id == user.id)


def list_channels(db: Session, user: User) -> list[AlertChannel]:
    """The caller's channels (admins: everyone's), by id."""
    return list(
        db.scalars(_owned(select(AlertChannel), AlertChannel, user).order_by(AlertChannel.id))
    )


def get_channel(db: Session, user: User, channel_id: int) -> AlertChannel:
    """A channel the caller owns (or any, for admins); NotFound otherwise."""
    channel = db.get(AlertChannel, channel_id)
    if channel is None or not (user.is_admin or channel.owner_id == user.id):
        raise NotFound(f"alert channel {channel_id} not found")
    return channel


def create_channel(db: Session, user: User, fields: dict[str, Any]) -> AlertChannel:
    """A new channel owned by the caller."""
    check_channel(fields["kind"], fields["target"], fields.get("secret"))
    channel = AlertChannel(owner_id=user.id, **fields)
    db.add(channel)
    db.flush()
    audit.record(
        db, user, "alert_channel.create", "alert_channel", channel.id, {"kind": channel.kind}
    )
    return channel


def delete_channel(db: Session, user: User, channel: AlertChannel) -> None:
    """Delete a channel (its pending deliveries go with it)."""
    audit.record(db, user, "alert_channel.delete", "alert_channel", channel.id)
    db.delete(channel)


# -- rules ---------------------------------------------------------------------------------
def list_rules(db: Session, user: User) -> list[AlertRule]:
    """The caller's rules (admins: everyone's), by id."""
    return list(db.scalars(_owned(select(AlertRule), AlertRule, user).order_by(AlertRule.id)))


def get_rule(db: Session, user: User, rule_id: int) -> AlertRule:
    """A rule the caller owns (any, for admins); NotFound otherwise."""
    rule = db.get(AlertRule, rule_id)
    if rule is None or not (user.is_admin or rule.owner_id == user.id):
        raise NotFound(f"alert rule {rule_id} not found")
    return rule


def _check_rule(db: Session, user: User, owner_id: int, values: dict[str, Any]) -> None:
    problem = validate(
        values["metric"],
        values["op"],
        values["threshold"],
        values.get("clear_threshold"),
        values["for_s"],
    )
    if problem:
        raise InvalidInput(problem, field=problem.split(" ")[0])
    if values.get("device_id") is not None:
        devices.get_visible(db, user, values["device_id"])  # 404 when not the caller's
    for channel_id in values.get("channel_ids") or []:
        channel = db.get(AlertChannel, channel_id)
        if channel is None or channel.owner_id != owner_id:
            raise NotFound(f"alert channel {channel_id} not found")


def create_rule(db: Session, user: User, values: dict[str, Any], tz: str) -> AlertRule:
    """A new rule owned by the caller; `tz` is the zone of its local days."""
    if values["metric"] in FLAG_METRICS:
        values = {**values, "op": ">", "threshold": 0.5, "clear_threshold": None}
    _check_rule(db, user, user.id, values)
    rule = AlertRule(owner_id=user.id, tz=tz, **values)
    db.add(rule)
    db.flush()
    audit.record(db, user, "alert_rule.create", "alert_rule", rule.id, {"metric": rule.metric})
    return rule


def update_rule(db: Session, user: User, rule: AlertRule, changes: dict[str, Any]) -> AlertRule:
    """Change a rule; the evaluator picks the change up within a second."""
    values = {
        key: getattr(rule, key)
        for key in (
            "name",
            "device_id",
            "metric",
            "op",
            "threshold",
            "clear_threshold",
            "for_s",
            "severity",
            "enabled",
            "channel_ids",
        )
    }
    values.update(changes)
    if values["metric"] in FLAG_METRICS:
        values.update(op=">", threshold=0.5, clear_threshold=None)
    _check_rule(db, user, rule.owner_id, values)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.updated_at = utcnow()
    audit.record(db, user, "alert_rule.update", "alert_rule", rule.id, {"fields": sorted(changes)})
    return rule


def delete_rule(db: Session, user: User, rule: AlertRule) -> None:
    """Delete a rule and its alerts' history."""
    audit.record(db, user, "alert_rule.delete", "alert_rule", rule.id)
    db.delete(rule)


# -- alerts --------------------------------------------------------------------------------
def visible_alerts(user: User) -> Select[Any]:
    """THE alert access rule, the readings' one: admins every alert; users the alerts of
    devices they may (still) see."""
    query = select(Alert)
    if user.is_admin:
        return query
    return (
        query.join(DeviceAssignment, DeviceAssignment.device_id == Alert.device_id)
        .join(Device, Device.id == Alert.device_id)
        .where(DeviceAssignment.user_id == user.id, Device.status == DEVICE_ACTIVE)
    )


def list_alerts(
    db: Session,
    user: User,
    state: str | None = None,
    device_id: int | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[Alert]:
    """Alerts the caller may see: active first, then acknowledged, then resolved; newest
    first within each."""
    query = visible_alerts(user)
    if state is not None:
        query = query.where(Alert.state == state)
    if device_id is not None:
        query = query.where(Alert.device_id == device_id)
    if since is not None:
        query = query.where((Alert.resolved_at.is_(None)) | (Alert.resolved_at >= since))
    rows = list(db.scalars(query.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)))
    order = {s: n for n, s in enumerate(STATES)}
    return sorted(rows, key=lambda a: order.get(a.state, 9))


def get_alert(db: Session, user: User, alert_id: int) -> Alert:
    """An alert the caller may see; NotFound otherwise."""
    alert: Alert | None = db.scalar(visible_alerts(user).where(Alert.id == alert_id))
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def acknowledge(db: Session, user: User, alert: Alert) -> Alert:
    """active -> acknowledged (409 when it is not active)."""
    if alert.state != ALERT_ACTIVE:
        raise Conflict(f"alert {alert.id} is {alert.state}, not active", state=alert.state)
    alert.state = ALERT_ACKNOWLEDGED
    alert.acknowledged_at = utcnow()
    alert.acknowledged_by = user.id
    alert.updated_at = utcnow()
    audit.record(db, user, "alert.ack", "alert", alert.id)
    return alert


def active_count(db: Session, user: User) -> int:
    """How many alerts the caller may see are active (the navigation badge)."""
    return len(
        db.scalars(visible_alerts(user).where(Alert.state == ALERT_ACTIVE).limit(1000)).all()
    )


def deliveries(db: Session, alert: Alert) -> list[tuple[AlertDelivery, list[AlertAttempt]]]:
    """The alert's notifications with every attempt."""
    rows = list(
        db.scalars(
            select(AlertDelivery)
            .where(AlertDelivery.alert_id == alert.id)
            .order_by(AlertDelivery.id)
        )
    )
    attempts: dict[int, list[AlertAttempt]] = {d.id: [] for d in rows}
    if rows:
        for attempt in db.scalars(
            select(AlertAttempt)
            .where(AlertAttempt.delivery_id.in_(list(attempts)))
            .order_by(AlertAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in rows]
