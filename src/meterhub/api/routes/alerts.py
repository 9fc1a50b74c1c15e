"""Alerts: rules, channels, the alerts themselves and their acknowledgement.

Errors: 404 for a rule, channel, alert or device the caller may not see (never 403);
409 when acknowledging an alert that is not active; 422 for a body that makes no sense
(`{"error", "field"}`). Channel secrets are write-only: no answer ever holds one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, model_validator

from meterhub.alerts import manage
from meterhub.alerts.core import Metric, Severity
from meterhub.alerts.payload import alert_object
from meterhub.api.deps import Context, CurrentUser, DbSession, client_ip
from meterhub.api.schemas import IdField, IdPath, IdQuery, Strict
from meterhub.db.models import AlertChannel, AlertRule
from meterhub.errors import InvalidInput
from meterhub.mqtt_publish import publish_once
from meterhub.services import commands, devices
from meterhub.timeparse import parse_instant

router = APIRouter(tags=["alerts"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such rule, channel, alert or device that the caller may see"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": 'The body makes no sense: `{"error", "field"}`'}
}


# -- channels ------------------------------------------------------------------------------
class ChannelIn(Strict):
    kind: Literal["webhook", "email", "ntfy", "mqtt"]
    name: Annotated[str, Field(max_length=64)] = ""
    url: Annotated[str | None, Field(max_length=512)] = None
    to: Annotated[str | None, Field(max_length=254)] = None
    topic: Annotated[str | None, Field(max_length=256)] = None
    secret: Annotated[str | None, Field(max_length=256)] = None

    @model_validator(mode="after")
    def _target(self) -> ChannelIn:
        needed = {"webhook": "url", "ntfy": "url", "email": "to", "mqtt": "topic"}[self.kind]
        if not getattr(self, needed):
            raise ValueError(f"a {self.kind} channel needs {needed!r}")
        return self


class ChannelOut(BaseModel):
    id: int
    owner_id: int
    name: str
    kind: str
    url: str | None
    to: str | None
    topic: str | None
    has_secret: bool
    enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, c: AlertChannel) -> ChannelOut:
        where = {"webhook": "url", "ntfy": "url", "email": "to", "mqtt": "topic"}.get(c.kind)
        targets = {k: (c.target if k == where else None) for k in ("url", "to", "topic")}
        return cls(
            id=c.id,
            owner_id=c.owner_id,
            name=c.name,
            kind=c.kind,
            has_secret=bool(c.secret),
            enabled=c.enabled,
            created_at=c.created_at,
            **targets,
        )


@router.get("/api/alert-channels", response_model=list[ChannelOut])
def list_channels(user: CurrentUser, db: DbSession) -> list[ChannelOut]:
    """The caller's channels (admins: everyone's). Secrets are never included."""
    return [ChannelOut.of(c) for c in manage.list_channels(db, user)]


@router.post("/api/alert-channels", response_model=ChannelOut, status_code=201, responses=INVALID)
def create_channel(body: ChannelIn, user: CurrentUser, db: DbSession) -> ChannelOut:
    """`{"kind":"webhook","url","secret"}` (JSON POST signed `X-Meterhub-Signature:
    sha256=<hex HMAC-SHA256 of the body>`), `{"kind":"email","to"}` (via SMTP_URL),
    `{"kind":"ntfy","url"}` (optional `secret`: a bearer token), `{"kind":"mqtt",
    "topic"}` (below `meterhub/alerts/`)."""
    target = body.url or body.to or body.topic or ""
    channel = manage.create_channel(
        db,
        user,
        {
            "kind": body.kind,
            "name": body.name or f"{body.kind} {target}"[:64],
            "target": target,
            "secret": body.secret or None,
        },
    )
    return ChannelOut.of(channel)


@router.delete("/api/alert-channels/{channel_id}", status_code=204, responses=NOT_FOUND)
def delete_channel(channel_id: IdPath, user: CurrentUser, db: DbSession) -> Response:
    """Delete a channel; rules naming it simply stop using it."""
    manage.delete_channel(db, user, manage.get_channel(db, user, channel_id))
    return Response(status_code=204)


# -- rules ---------------------------------------------------------------------------------
class RuleIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    device_id: IdField | None = None
    metric: Metric
    op: Literal[">", "<"] = ">"
    threshold: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    clear_threshold: Annotated[float | None, Field(allow_inf_nan=False)] = None
    for_s: Annotated[int, Field(ge=0, le=604800)] = 0
    severity: Severity = "warning"
    enabled: bool = True
    channel_ids: Annotated[list[IdField], Field(max_length=20)] = []


class RuleUpdate(Strict):
    name: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    device_id: IdField | None = None
    metric: Metric | None = None
    op: Literal[">", "<"] | None = None
    threshold: Annotated[float | None, Field(allow_inf_nan=False)] = None
    clear_threshold: Annotated[float | None, Field(allow_inf_nan=False)] = None
    for_s: Annotated[int | None, Field(ge=0, le=604800)] = None
    severity: Severity | None = None
    enabled: bool | None = None
    channel_ids: Annotated[list[IdField] | None, Field(max_length=20)] = None


class RuleOut(BaseModel):
    id: int
    owner_id: int
    name: str
    device_id: int | None
    metric: str
    op: str
    threshold: float
    clear_threshold: float | None
    for_s: int
    severity: str
    enabled: bool
    tz: str
    channel_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, rule: AlertRule) -> RuleOut:
        return cls.model_validate(rule, from_attributes=True)


@router.get("/api/alert-rules", response_model=list[RuleOut])
def list_rules(user: CurrentUser, db: DbSession) -> list[RuleOut]:
    """The caller's rules (admins: everyone's)."""
    return [RuleOut.of(r) for r in manage.list_rules(db, user)]


@router.post(
    "/api/alert-rules",
    response_model=RuleOut,
    status_code=201,
    responses={**NOT_FOUND, **INVALID},
)
def create_rule(body: RuleIn, user: CurrentUser, db: DbSession, ctx: Context) -> RuleOut:
    """A rule on one device (`device_id`) or, with `device_id` null, on every device the
    caller may see (now and later). `offline`, `meter_alarm` and `counter_reset` take no
    threshold. Local days of `energy_day_kwh` are in the caller's time zone."""
    tz = user.timezone or ctx.settings.METERHUB_TZ
    return RuleOut.of(manage.create_rule(db, user, body.model_dump(), tz))


@router.get("/api/alert-rules/{rule_id}", response_model=RuleOut, responses=NOT_FOUND)
def get_rule(rule_id: IdPath, user: CurrentUser, db: DbSession) -> RuleOut:
    """One rule."""
    return RuleOut.of(manage.get_rule(db, user, rule_id))


@router.put(
    "/api/alert-rules/{rule_id}", response_model=RuleOut, responses={**NOT_FOUND, **INVALID}
)
def update_rule(rule_id: IdPath, body: RuleUpdate, user: CurrentUser, db: DbSession) -> RuleOut:
    """Change any fields (takes effect within a second, no restart)."""
    rule = manage.get_rule(db, user, rule_id)
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "metric", "op", "threshold", "for_s", "severity", "enabled"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key}: must not be null", field=key)
    return RuleOut.of(manage.update_rule(db, user, rule, changes))


@router.delete("/api/alert-rules/{rule_id}", status_code=204, responses=NOT_FOUND)
def delete_rule(rule_id: IdPath, user: CurrentUser, db: DbSession) -> Response:
    """Delete a rule, with its alerts."""
    manage.delete_rule(db, user, manage.get_rule(db, user, rule_id))
    return Response(status_code=204)


class ThresholdIn(Strict):
    watts: Annotated[int, Field(ge=0, le=23000)]


class ThresholdOut(BaseModel):
    command_ids: list[str]


@router.post(
    "/api/alert-rules/{rule_id}/meter-threshold",
    response_model=ThresholdOut,
    status_code=202,
    responses={**NOT_FOUND, **INVALID},
)
def set_meter_threshold(
    rule_id: IdPath,
    body: ThresholdIn,
    user: CurrentUser,
    db: DbSession,
    ctx: Context,
    request: Request,
) -> ThresholdOut:
    """For a `meter_alarm` rule: write the PZEM's own power-alarm threshold (`watts`)
    to the rule's device(s) with the firmware's `set_alarm_threshold` command. Follow
    each command with GET /api/devices/{id}/commands/{cid} (admins)."""
    rule = manage.get_rule(db, user, rule_id)
    if rule.metric != "meter_alarm":
        raise InvalidInput("only meter_alarm rules set the meter's threshold", field="metric")
    if rule.device_id is not None:
        targets = [devices.get_visible(db, user, rule.device_id)]
    else:
        targets = devices.list_visible(db, user, status="active")
    ids = []
    for device in targets[:100]:
        command = commands.send(
            db,
            user,
            device,
            "set_alarm_threshold",
            {"watts": body.watts},
            target=ctx.broker_target,
            secret=ctx.secret,
            data_dir=ctx.settings.data_dir,
            base_url=str(request.base_url),
            client_ip=client_ip(request),
            publish=ctx.mqtt_publish or publish_once,
        )
        ids.append(command.id)
    return ThresholdOut(command_ids=ids)


# -- alerts --------------------------------------------------------------------------------
class AlertOut(BaseModel):
    id: int
    rule_id: int
    device_id: int
    serial: str
    metric: str
    severity: str
    state: str
    value: float | None
    opened_at: str
    acknowledged_at: str | None
    resolved_at: str | None
    message: str


class AttemptOut(BaseModel):
    ts: datetime
    ok: bool
    error: str | None


class DeliveryOut(BaseModel):
    id: int
    channel_id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    tries: list[AttemptOut]


class CountOut(BaseModel):
    active: int


@router.get("/api/alerts", response_model=list[AlertOut], responses=INVALID)
def list_alerts(
    user: CurrentUser,
    db: DbSession,
    state: Literal["active", "acknowledged", "resolved"] | None = None,
    device_id: IdQuery = None,
    since: Annotated[str | None, Query(max_length=40, alias="from")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    """Alerts of the devices the caller may see: active first, then acknowledged, then
    resolved, newest first in each. `from` keeps alerts open at or after that time."""
    try:
        start = parse_instant(since) if since else None
    except ValueError as exc:
        raise InvalidInput(f"from: {exc}", field="from") from None
    rows = manage.list_alerts(db, user, state, device_id, start, limit)
    return [AlertOut(**alert_object(a)) for a in rows]


@router.get("/api/alerts/count", response_model=CountOut)
def count_alerts(user: CurrentUser, db: DbSession) -> CountOut:
    """How many alerts the caller may see are active (the navigation badge)."""
    return CountOut(active=manage.active_count(db, user))


@router.get("/api/alerts/{alert_id}", response_model=AlertOut, responses=NOT_FOUND)
def get_alert(alert_id: IdPath, user: CurrentUser, db: DbSession) -> AlertOut:
    """One alert."""
    return AlertOut(**alert_object(manage.get_alert(db, user, alert_id)))


@router.post(
    "/api/alerts/{alert_id}/ack",
    response_model=AlertOut,
    responses={**NOT_FOUND, 409: {"description": "The alert is not active"}},
)
def ack_alert(alert_id: IdPath, user: CurrentUser, db: DbSession) -> AlertOut:
    """active -> acknowledged. It still resolves by itself when its clear condition holds."""
    alert = manage.acknowledge(db, user, manage.get_alert(db, user, alert_id))
    db.flush()
    return AlertOut(**alert_object(alert))


@router.get(
    "/api/alerts/{alert_id}/deliveries", response_model=list[DeliveryOut], responses=NOT_FOUND
)
def alert_deliveries(alert_id: IdPath, user: CurrentUser, db: DbSession) -> list[DeliveryOut]:
    """The alert's notifications and every attempt to send them (errors included)."""
    alert = manage.get_alert(db, user, alert_id)
    return [
        DeliveryOut(
            id=d.id,
            channel_id=d.channel_id,
            event=d.event,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_error=d.last_error,
            sent_at=d.sent_at,
            tries=[AttemptOut(ts=a.ts, ok=a.ok, error=a.error) for a in tries],
        )
        for d, tries in manage.deliveries(db, alert)
    ]
