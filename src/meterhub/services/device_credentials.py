"""Device MQTT accounts: issue (and rotate) a device's credentials, list who has none,
and register a meter that enrols.

A device's account user name is its topic id (`meter/<id>/...`: its serial unless an
admin set `topic_id`); the password is random, returned once, and stored only as a
hash. Issuing again rotates: the old password stops working at the broker's next check
(the embedded broker re-checks connected devices every few seconds).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterhub.broker.acl import ENROL_USER, SERVICE_USER, enrol_topic
from meterhub.broker.passwords import hash_password, new_password
from meterhub.broker.url import BrokerTarget
from meterhub.db.models import DEVICE_ACTIVE, DEVICE_PENDING, Device, DeviceEvent, User
from meterhub.db.types import utcnow
from meterhub.errors import Conflict
from meterhub.services import audit

log = logging.getLogger("meterhub")
RESERVED_USERNAMES = (SERVICE_USER, ENROL_USER)
MAX_PENDING_DEVICES = 200  # the same bound as ingest's: enrolment cannot flood the registry


@dataclass(frozen=True)
class Credentials:
    """A device's MQTT account, with the password in clear: shown once, never stored."""

    username: str
    password: str


def username_of(device: Device) -> str:
    """The device's MQTT user name: its topic id."""
    return device.topic_id or device.serial_number


def issue(db: Session, actor: User | None, device: Device) -> Credentials:
    """Give `device` a new password (rotating any old one) and return it once."""
    username = username_of(device)
    if username in RESERVED_USERNAMES:
        raise Conflict(f"{username!r} is reserved for meterhub's own MQTT accounts")
    password = new_password()
    device.mqtt_password_hash = hash_password(password)
    device.mqtt_credentials_at = utcnow()
    audit.record(
        db, actor, "device.credentials", "device", device.id, {"serial": device.serial_number}
    )
    db.flush()
    return Credentials(username, password)


def revoke(db: Session, actor: User | None, device: Device) -> None:
    """Remove the device's MQTT account: the broker refuses it from its next check."""
    device.mqtt_password_hash = None
    device.mqtt_credentials_at = None
    audit.record(db, actor, "device.credentials_revoked", "device", device.id, {})
    db.flush()


def accounts(db: Session) -> list[tuple[str, str, str]]:
    """(user name, password hash, protocol) of every device that has an MQTT account."""
    rows = db.execute(
        select(
            Device.serial_number, Device.topic_id, Device.mqtt_password_hash, Device.protocol
        ).where(Device.mqtt_password_hash.is_not(None))
    )
    return [
        (topic_id or serial, stored or "", protocol) for serial, topic_id, stored, protocol in rows
    ]


def without_credentials(db: Session) -> list[str]:
    """Serials of active devices that have no MQTT account (the broker refuses them)."""
    query = select(Device.serial_number).where(
        Device.status == DEVICE_ACTIVE, Device.mqtt_password_hash.is_(None)
    )
    return list(db.scalars(query.order_by(Device.serial_number)))


def enrol(db: Session, serial: str) -> Device | None:
    """Register a meter that asked to enrol as a pending device (once); None when too
    many devices wait for approval already. An existing device is returned unchanged."""
    device = db.scalar(select(Device).where(Device.serial_number == serial))
    if device is not None:
        return device
    pending = db.scalar(select(func.count()).where(Device.status == DEVICE_PENDING)) or 0
    if pending >= MAX_PENDING_DEVICES:
        return None
    device = Device(serial_number=serial, status=DEVICE_PENDING)
    db.add(device)
    db.flush()
    db.add(
        DeviceEvent(
            device_id=device.id, ts=utcnow(), kind="pending", detail={"reason": "enrolment"}
        )
    )
    db.flush()
    return device


def deliver_to_enrolled(
    db: Session,
    actor: User | None,
    device: Device,
    target: BrokerTarget | None,
    publish: Callable[..., None],
) -> bool:
    """Hand a just-approved meter its own account: when it has none yet, issue one and
    publish it, retained, on `enrol/<serial>/credentials`, the one topic its enrolment
    client may read (the broker removes it once the meter logs in with it). False when
    nothing was sent (it has an account, or no broker answered: an admin can still issue
    credentials by hand)."""
    if device.mqtt_password_hash is not None or target is None or not _enrolled(db, device):
        return False
    creds = issue(db, actor, device)
    body = json.dumps({"username": creds.username, "password": creds.password}).encode()
    try:
        publish(target, enrol_topic(device.serial_number), body, qos=1, retain=True)
    except Exception as exc:  # the approval stands; the admin sees why in the log
        log.warning("could not send %s its credentials: %s", device.serial_number, exc)
        return False
    return True


def _enrolled(db: Session, device: Device) -> bool:
    """True if the device came through MQTT enrolment (not from an external broker)."""
    kinds = db.scalars(
        select(DeviceEvent.detail).where(
            DeviceEvent.device_id == device.id, DeviceEvent.kind == "pending"
        )
    )
    return any(isinstance(d, dict) and d.get("reason") == "enrolment" for d in kinds)


def issue_for_simulation(db: Session, serials: list[str]) -> dict[str, tuple[str, str]]:
    """Register simulated meters that are missing and give each a fresh account, so that
    `meterhub simulate` logs in like real meters do: serial -> (user name, password)."""
    issued: dict[str, tuple[str, str]] = {}
    for serial in serials:
        device = db.scalar(select(Device).where(Device.serial_number == serial))
        if device is None:
            device = Device(serial_number=serial, status=DEVICE_ACTIVE, name="Simulated meter")
            db.add(device)
            db.flush()
        creds = issue(db, None, device)
        issued[serial] = (creds.username, creds.password)
    return issued
