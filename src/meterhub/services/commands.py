"""Remote commands: check, store, publish to `meter/<id>/control`, and report what became
of them.

A command is committed *before* it is published: the device may answer within
milliseconds, and ingest (another process) can only mark a row acked that it can see.
Ingest sets acked/failed from `meter/<id>/control/ack` (`meterhub.store.commands.write_acks`);
a command still pending after `expires_at` is reported, and stored, as timed_out.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from meterhub.broker.url import BrokerTarget
from meterhub.db.models import Device, DeviceCommand, User
from meterhub.db.types import utcnow
from meterhub.errors import Conflict, InvalidInput, MeterhubError, NotFound
from meterhub.mqtt_publish import PublishError, publish_once
from meterhub.services import audit, command_signing, ota

COMMAND_TIMEOUT_S = 60  # a device answers within one poll loop; 60 s covers a slow link
OTA_TIMEOUT_S = 600  # the device downloads and verifies every file before it answers
COMMANDS = ("set_interval", "reset_energy", "reboot", "identify", "set_alarm_threshold", "ota")
PENDING, ACKED, FAILED, TIMED_OUT = "pending", "acked", "failed", "timed_out"
IDENTIFY_BLINK_S = 0.3  # one LED blink on the board (board.blink: 150 ms on, 150 ms off)
IDENTIFY_MAX_S = 30  # blinking blocks the meter's loop: keep it short
DEFAULT_LIMIT = 50
COMMAND_ID_RE = re.compile(r"^[0-9a-fA-F-]{1,64}$")

Publisher = Callable[[BrokerTarget, str, bytes], None]


class BrokerUnavailable(MeterhubError):
    """The command could not be handed to the MQTT broker (it is stored as failed)."""

    status_code = 503


def control_topic(device: Device) -> str:
    """Where the device listens: the <id> of its topics, which is its serial unless its
    messages said otherwise (DESIGN: the device is `serial_number` if present, else <id>)."""
    return f"meter/{device.topic_id or device.serial_number}/control"


# -- validation (pure) ------------------------------------------------------------------
def _bad(message: str, field: str = "args") -> InvalidInput:
    return InvalidInput(message, field=field)


def _number(
    args: dict[str, Any],
    name: str,
    low: float,
    high: float,
    cmd: str,
    required: bool = True,
    whole: bool = True,
) -> int | float | None:
    value = args.get(name)
    if value is None:
        if required:
            raise _bad(f"{cmd} needs args.{name} ({low:g}..{high:g})", f"args.{name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"args.{name} must be a number ({low:g}..{high:g})", f"args.{name}")
    if whole and value != int(value):
        raise _bad(f"args.{name} must be a whole number ({low:g}..{high:g})", f"args.{name}")
    if not low <= value <= high:
        raise _bad(
            f"args.{name} must be between {low:g} and {high:g}, not {value:g}", f"args.{name}"
        )
    return int(value) if whole else value


def _only(args: dict[str, Any], cmd: str, allowed: tuple[str, ...]) -> None:
    extra = sorted(set(args) - set(allowed))
    if extra:
        takes = ", ".join(allowed) if allowed else "no arguments"
        raise _bad(f"{cmd} does not take {', '.join(extra)} (it takes {takes})", f"args.{extra[0]}")


def validate(cmd: str, args: dict[str, Any] | None) -> dict[str, Any]:
    """The arguments to store and send for `cmd`; InvalidInput (422) says what is wrong.

    `ota` is checked here for shape only; `send` adds the manifest URL and the token."""
    if cmd not in COMMANDS:
        raise _bad(f"unknown command {cmd[:40]!r}; use one of: {', '.join(COMMANDS)}", "cmd")
    args = dict(args or {})
    if cmd == "set_interval":
        _only(args, cmd, ("seconds",))
        return {"seconds": _number(args, "seconds", 1, 3600, cmd)}
    if cmd in ("reset_energy", "reboot"):
        _only(args, cmd, ())
        return {}
    if cmd == "identify":
        _only(args, cmd, ("seconds",))
        seconds = _number(args, "seconds", 1, IDENTIFY_MAX_S, cmd, required=False) or 5
        # The firmware blinks `count` times (firmware/lib/commands.py).
        return {"seconds": seconds, "count": max(1, round(seconds / IDENTIFY_BLINK_S))}
    if cmd == "set_alarm_threshold":
        _only(args, cmd, ("watts",))
        return {"watts": _number(args, "watts", 0, 23000, cmd)}
    _only(args, cmd, ("version", "base_url"))
    version = args.get("version")
    if not isinstance(version, str) or not ota.VERSION_RE.match(version):
        raise _bad(
            "ota needs args.version: the firmware version of an uploaded bundle "
            "(GET /api/ota/bundles)",
            "args.version",
        )
    out: dict[str, Any] = {"version": version}
    base = args.get("base_url")
    if base is not None:
        if (
            not isinstance(base, str)
            or not base.startswith("http://")
            or len(base) > 200
            or len(base) < 8
            or any(c in base for c in " ?#\\")
        ):
            raise _bad(
                "args.base_url must be the http:// address devices reach this server "
                "at, e.g. http://192.168.1.10:3000 (the firmware downloads over plain "
                "http)",
                "args.base_url",
            )
        out["base_url"] = base.rstrip("/")
    return out


# -- sending ----------------------------------------------------------------------------
def send(
    db: Session,
    actor: User,
    device: Device,
    cmd: str,
    args: dict[str, Any] | None,
    *,
    target: BrokerTarget | None,
    secret: str,
    data_dir: Path,
    base_url: str,
    client_ip: str | None = None,
    publish: Publisher = publish_once,
) -> DeviceCommand:
    """Check, store (committed), audit and publish a command; BrokerUnavailable when the
    broker cannot take it (the command is then stored as failed with the reason)."""
    if device.protocol != "meterhub":  # Tasmota/ESPHome firmware has no meter/<id>/control
        raise Conflict(
            f"device {device.serial_number!r} runs {device.protocol}: commands are for "
            "meterhub firmware only",
            field="device",
        )
    checked = validate(cmd, args)
    timeout = COMMAND_TIMEOUT_S
    sent = dict(checked)
    if cmd == "ota":
        version = checked["version"]
        if ota.load_manifest(data_dir, version) is None:
            raise _bad(
                f"no firmware bundle {version!r} was uploaded; upload it with "
                "POST /api/ota/bundles",
                "args.version",
            )
        base = checked.pop("base_url", None) or base_url
        if not base.startswith("http://"):
            raise _bad(
                f"this server was reached at {base.rstrip('/')}, but the firmware "
                "downloads over plain http://; pass args.base_url (the http:// address "
                "devices reach this server at)",
                "args.base_url",
            )
        checked["url"] = ota.manifest_url(base, version)
        sent = {**checked, "token": ota.issue_token(secret, device.serial_number, version)}
        if device.command_secret:  # the signed command names the manifest by its hash
            manifest = ota.bundles_dir(data_dir) / version / ota.MANIFEST
            sent["sha256"] = hashlib.sha256(manifest.read_bytes()).hexdigest()
        timeout = OTA_TIMEOUT_S
    now = utcnow()
    command = DeviceCommand(
        id=str(uuid.uuid4()),
        device_id=device.id,
        cmd=cmd,
        args=checked,
        status=PENDING,
        created_by=actor.id,
        created_at=now,
        expires_at=now + timedelta(seconds=timeout),
    )
    db.add(command)
    audit.record(
        db,
        actor,
        "device.command",
        "device",
        device.id,
        {"command_id": command.id, "cmd": cmd, "args": checked, "serial": device.serial_number},
        client_ip,
    )
    db.commit()  # visible to ingest before the device can answer
    if device.command_secret:
        payload = command_signing.sign(device.command_secret, command.id, cmd, sent, timeout)
    else:  # a meter provisioned before signed commands (or the C++ firmware)
        payload = json.dumps(
            {"id": command.id, "cmd": cmd, "args": sent}, separators=(",", ":")
        ).encode()
    try:
        if target is None:
            raise PublishError(
                "no MQTT broker is configured for the web process (start it "
                "with `meterhub run`, or set MQTT_BROKER_URL)"
            )
        publish(target, control_topic(device), payload)
    except PublishError as exc:
        command.status, command.error, command.answered_at = FAILED, str(exc)[:512], utcnow()
        db.commit()
        raise BrokerUnavailable(f"command not sent: {exc}", id=command.id, status=FAILED) from None
    return command


# -- status -----------------------------------------------------------------------------
def expire_overdue(db: Session, device_id: int | None = None) -> int:
    """Store pending commands past their expiry as timed_out; returns how many."""
    query = update(DeviceCommand).where(
        DeviceCommand.status == PENDING, DeviceCommand.expires_at <= utcnow()
    )
    if device_id is not None:
        query = query.where(DeviceCommand.device_id == device_id)
    result = db.execute(
        query.values(
            status=TIMED_OUT,
            error="the device did not answer in time (offline, "
            "or its firmware does not know the command)",
        ).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get(db: Session, device: Device, command_id: str) -> DeviceCommand:
    """One command of `device` with its current status; NotFound otherwise."""
    if not COMMAND_ID_RE.match(command_id):  # cannot exist; NUL etc. never reach the database
        raise NotFound(f"command {command_id[:40]!r} not found for device {device.id}")
    expire_overdue(db, device.id)
    command = db.scalar(
        select(DeviceCommand)
        .where(DeviceCommand.id == command_id, DeviceCommand.device_id == device.id)
        .execution_options(populate_existing=True)
    )
    if command is None:
        raise NotFound(f"command {command_id[:40]!r} not found for device {device.id}")
    return command


def recent(db: Session, device: Device, limit: int = DEFAULT_LIMIT) -> list[DeviceCommand]:
    """The device's newest commands first, with current statuses."""
    expire_overdue(db, device.id)
    return list(
        db.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.device_id == device.id)
            .order_by(DeviceCommand.created_at.desc(), DeviceCommand.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
    )
