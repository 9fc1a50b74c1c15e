"""Integration settings (admins): Home Assistant discovery status and Emoncms forwarding
targets. An Emoncms API key is write-only: stored encrypted, answered as "set"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterhub.api.deps import AdminUser, Context, DbSession
from meterhub.api.schemas import IdPath, Strict
from meterhub.db.models import Device, EmoncmsCursor, EmoncmsTarget, Reading
from meterhub.errors import Conflict, InvalidInput, NotFound
from meterhub.integrations.secrets import SecretUnreadable, decrypt, encrypt
from meterhub.services import audit

router = APIRouter(prefix="/api/integrations", tags=["integrations"])
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Not logged in"},
    403: {"description": "Admin role required"},
}
TARGET_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    404: {"description": "No such target, or no such device"},
    409: {"description": "A target with this name exists"},
    422: {"description": "Invalid field (the answer names it)"},
}
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w .-]+$")]
BaseUrl = Annotated[str, Field(min_length=8, max_length=512)]
ApiKey = Annotated[str, Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Serial = Annotated[str, Field(min_length=1, max_length=64)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL, e.g. https://emoncms.org")
    if parts.query or parts.fragment or parts.username:
        raise ValueError("must not have a query, a fragment or credentials")
    return value.rstrip("/")


class EmoncmsTargetIn(Strict):
    """A new Emoncms target: every active device, or only `device_serial`."""

    name: Name
    base_url: BaseUrl
    api_key: ApiKey
    device_serial: Serial | None = None
    enabled: bool = True

    _url = field_validator("base_url")(_http_url)


class EmoncmsTargetUpdateIn(Strict):
    """Fields to change; leave `api_key` out to keep the stored one."""

    name: Name | None = None
    base_url: BaseUrl | None = None
    api_key: ApiKey | None = None
    enabled: bool | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


class EmoncmsTargetOut(BaseModel):
    """A target; the API key is never answered, only whether it is usable."""

    id: int
    name: str
    base_url: str
    device_serial: str | None
    enabled: bool
    api_key: Literal["set", "unreadable"]
    forwarded: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    behind_devices: int = Field(description="Devices with readings not yet acknowledged")


class HomeAssistantOut(BaseModel):
    """Home Assistant discovery as configured (HA_DISCOVERY, HA_DISCOVERY_PREFIX)."""

    enabled: bool
    prefix: str
    status_topic: str
    state_topic_pattern: str
    availability_topic_pattern: str


class IntegrationsOut(BaseModel):
    home_assistant: HomeAssistantOut
    emoncms: list[EmoncmsTargetOut]


def _out(db: Session, target: EmoncmsTarget, secret: str) -> EmoncmsTargetOut:
    try:
        decrypt(secret, target.api_key_enc)
        key: Literal["set", "unreadable"] = "set"
    except SecretUnreadable:
        key = "unreadable"
    serial = None
    if target.device_id is not None:
        serial = db.scalar(select(Device.serial_number).where(Device.id == target.device_id))
    # EXISTS per cursor: a primary-key range probe each, however large readings grows.
    waiting = (
        select(Reading.ts)
        .where(Reading.device_id == EmoncmsCursor.device_id, Reading.ts > EmoncmsCursor.last_ts)
        .exists()
    )
    behind = db.scalar(
        select(func.count())
        .select_from(EmoncmsCursor)
        .where(EmoncmsCursor.target_id == target.id, waiting)
    )
    return EmoncmsTargetOut(
        id=target.id,
        name=target.name,
        base_url=target.base_url,
        device_serial=serial,
        enabled=target.enabled,
        api_key=key,
        forwarded=target.forwarded,
        last_success_at=target.last_success_at,
        last_error=target.last_error,
        last_error_at=target.last_error_at,
        behind_devices=int(behind or 0),
    )


def _target(db: Session, target_id: int) -> EmoncmsTarget:
    target = db.get(EmoncmsTarget, target_id)
    if target is None:
        raise NotFound(f"Emoncms target {target_id} not found")
    return target


def _unique_name(db: Session, name: str, exclude: int | None = None) -> None:
    query = select(EmoncmsTarget.id).where(EmoncmsTarget.name == name)
    if exclude is not None:
        query = query.where(EmoncmsTarget.id != exclude)
    if db.scalar(query) is not None:
        raise Conflict(f"an Emoncms target named {name!r} exists; choose another name")


@router.get("", response_model=IntegrationsOut, responses=ERRORS)
def overview(admin: AdminUser, db: DbSession, ctx: Context) -> IntegrationsOut:
    """Home Assistant discovery settings and every Emoncms target."""
    cfg = ctx.settings
    prefix = cfg.HA_DISCOVERY_PREFIX
    targets = db.scalars(select(EmoncmsTarget).order_by(EmoncmsTarget.id))
    return IntegrationsOut(
        home_assistant=HomeAssistantOut(
            enabled=cfg.HA_DISCOVERY,
            prefix=prefix,
            status_topic=f"{prefix}/status",
            state_topic_pattern="meterhub/<serial>/state",
            availability_topic_pattern="meterhub/<serial>/availability",
        ),
        emoncms=[_out(db, t, ctx.secret) for t in targets],
    )


@router.post("/emoncms", response_model=EmoncmsTargetOut, status_code=201, responses=TARGET_ERRORS)
def create_target(
    body: EmoncmsTargetIn, admin: AdminUser, db: DbSession, ctx: Context
) -> EmoncmsTargetOut:
    """Forward readings to an Emoncms server from now on (history is not sent)."""
    _unique_name(db, body.name)
    device_id = None
    if body.device_serial is not None:
        device_id = db.scalar(select(Device.id).where(Device.serial_number == body.device_serial))
        if device_id is None:
            raise NotFound(f"device {body.device_serial!r} not found")
    target = EmoncmsTarget(
        name=body.name,
        base_url=body.base_url,
        api_key_enc=encrypt(ctx.secret, body.api_key),
        device_id=device_id,
        enabled=body.enabled,
        forwarded=0,
    )
    db.add(target)
    db.flush()
    audit.record(
        db,
        admin,
        "emoncms.create",
        "emoncms_target",
        target.id,
        {"name": body.name, "base_url": body.base_url, "device": body.device_serial},
    )
    return _out(db, target, ctx.secret)


@router.put("/emoncms/{target_id}", response_model=EmoncmsTargetOut, responses=TARGET_ERRORS)
def update_target(
    target_id: IdPath, body: EmoncmsTargetUpdateIn, admin: AdminUser, db: DbSession, ctx: Context
) -> EmoncmsTargetOut:
    """Change a target; a new `api_key` replaces the stored one."""
    target = _target(db, target_id)
    changes = body.model_dump(exclude_unset=True)
    if any(changes.get(k, 0) is None for k in ("name", "base_url", "api_key", "enabled")):
        raise InvalidInput("fields must not be null; leave a field out to keep its value")
    if "name" in changes:
        _unique_name(db, changes["name"], exclude=target.id)
        target.name = changes["name"]
    if "base_url" in changes:
        target.base_url = changes["base_url"]
    if "enabled" in changes:
        target.enabled = changes["enabled"]
    if "api_key" in changes:
        target.api_key_enc = encrypt(ctx.secret, changes["api_key"])
        target.last_error = None
    detail = {k: v for k, v in changes.items() if k != "api_key"}
    if "api_key" in changes:
        detail["api_key"] = "replaced"
    audit.record(db, admin, "emoncms.update", "emoncms_target", target.id, detail)
    db.flush()
    return _out(db, target, ctx.secret)


@router.delete("/emoncms/{target_id}", status_code=204, responses=TARGET_ERRORS)
def delete_target(target_id: IdPath, admin: AdminUser, db: DbSession) -> Response:
    """Stop forwarding to this target and forget its progress."""
    target = _target(db, target_id)
    db.delete(target)
    audit.record(db, admin, "emoncms.delete", "emoncms_target", target_id, {"name": target.name})
    return Response(status_code=204)
