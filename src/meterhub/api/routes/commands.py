"""Remote control of a device (admins): send a command, follow what became of it.

The web process publishes to `meter/<serial>/control` through a one-shot MQTT connection
to the broker in `ctx.broker_target`; ingest records the device's answer.
`ctx.mqtt_publish`, when set, replaces the publisher (tests without a broker).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from meterhub.api.deps import AdminUser, Context, DbSession, client_ip
from meterhub.api.schemas import IdPath, Strict
from meterhub.db.models import DeviceCommand
from meterhub.mqtt_publish import publish_once
from meterhub.services import commands, devices

router = APIRouter(prefix="/api/devices", tags=["commands"])
CommandIdPath = Annotated[str, Path(min_length=1, max_length=64)]


class CommandIn(Strict):
    cmd: Annotated[str, Field(min_length=1, max_length=64, examples=["set_interval"])]
    args: Annotated[dict[str, Any] | None, Field(examples=[{"seconds": 30}])] = None


class CommandOut(BaseModel):
    id: str
    device_id: int
    cmd: str
    args: dict[str, Any] | None
    status: str
    error: str | None
    created_by: int | None
    created_at: datetime
    answered_at: datetime | None
    expires_at: datetime

    @classmethod
    def of(cls, command: DeviceCommand) -> CommandOut:
        return cls.model_validate(command, from_attributes=True)


ERRORS: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The MQTT broker is not configured or did not take the message; "
        'the command is stored as failed: `{"error", "id", "status"}`'
    },
}


@router.post("/{device_id}/commands", response_model=CommandOut, status_code=202, responses=ERRORS)
def send_command(
    device_id: IdPath,
    body: CommandIn,
    admin: AdminUser,
    db: DbSession,
    ctx: Context,
    request: Request,
) -> CommandOut:
    """Send `{"cmd", "args"}` to the device. cmd: `set_interval` {seconds 1..3600},
    `reset_energy`, `reboot`, `identify` {seconds 1..30, optional}, `set_alarm_threshold`
    {watts 0..23000}, `ota` {version of an uploaded bundle; optional base_url, the
    http:// address devices reach this server at}. Answers 202 with the command (pending);
    follow it with GET .../commands/{id}."""
    device = devices.get_visible(db, admin, device_id)
    command = commands.send(
        db,
        admin,
        device,
        body.cmd,
        body.args,
        target=ctx.broker_target,
        secret=ctx.secret,
        data_dir=ctx.settings.data_dir,
        base_url=str(request.base_url),
        client_ip=client_ip(request),
        publish=ctx.mqtt_publish or publish_once,
    )
    return CommandOut.of(command)


@router.get("/{device_id}/commands", response_model=list[CommandOut])
def list_commands(
    device_id: IdPath,
    admin: AdminUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = commands.DEFAULT_LIMIT,
) -> list[CommandOut]:
    """The device's recent commands, newest first (the device page's command and OTA
    rollout history)."""
    device = devices.get_visible(db, admin, device_id)
    return [CommandOut.of(c) for c in commands.recent(db, device, limit)]


@router.get("/{device_id}/commands/{command_id}", response_model=CommandOut)
def get_command(
    device_id: IdPath, command_id: CommandIdPath, admin: AdminUser, db: DbSession
) -> CommandOut:
    """One command: status pending, acked, failed (with the device's error) or timed_out."""
    device = devices.get_visible(db, admin, device_id)
    return CommandOut.of(commands.get(db, device, command_id))
