"""Devices: the registry, assignments, approval of pending devices, and the access rule."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session, selectinload

from meterhub.db.models import (
    DEVICE_ACTIVE,
    DEVICE_PENDING,
    Device,
    DeviceAssignment,
    TariffRow,
    User,
)
from meterhub.db.types import utcnow
from meterhub.errors import Conflict, InvalidInput, NotFound
from meterhub.protocol.rules import SERIAL_RULE, is_valid_serial
from meterhub.services import audit

EDITABLE = ("name", "location", "description", "protocol", "timezone")
"""Fields taken as given; `topic_id` and `tariff_id` are checked on their own."""


_Q = TypeVar("_Q", bound="Select[*tuple[Any, ...]]")


def _only_visible(query: _Q, user: User) -> _Q:
    """THE access rule: admins see every device; users their assigned, approved ones."""
    if user.is_admin:
        return query
    joined: _Q = query.join(DeviceAssignment, DeviceAssignment.device_id == Device.id).where(
        DeviceAssignment.user_id == user.id, Device.status == DEVICE_ACTIVE
    )
    return joined


def visible_query(user: User) -> Select[Device]:
    """Devices `user` may see, with their assigned users loaded."""
    return _only_visible(select(Device).options(selectinload(Device.users)), user)


def list_visible(db: Session, user: User, status: str | None = None) -> list[Device]:
    """The caller's devices, by serial; `status` filters (active/pending)."""
    query = visible_query(user).order_by(Device.serial_number)
    if status is not None:
        query = query.where(Device.status == status)
    return list(db.scalars(query))


def visible_ids(db: Session, user: User) -> list[tuple[int, str]]:
    """(id, status) of the devices `user` may see: the light form for fleet figures."""
    rows = db.execute(_only_visible(select(Device.id, Device.status), user))
    return [(row[0], row[1]) for row in rows]


def visible_serials(db: Session, user: User) -> list[str]:
    """Serials of the devices `user` may see: the light form for the live feed (no ORM
    objects, which for 10,000 devices would cost the web process megabytes)."""
    return list(db.scalars(_only_visible(select(Device.serial_number), user)))


def get_visible(db: Session, user: User, device_id: int) -> Device:
    """The device if `user` may see it; otherwise NotFound (never reveal that it exists)."""
    device = db.scalar(visible_query(user).where(Device.id == device_id))
    if device is None:
        raise NotFound(f"device {device_id} not found")
    return device


def get_visible_by_serial(db: Session, user: User, serial: str) -> Device:
    """Same rule as get_visible, by serial number."""
    if not is_valid_serial(serial):  # cannot exist; and NUL etc. never reach the database
        raise NotFound(f"device {serial[:64]!r} not found")
    device = db.scalar(visible_query(user).where(Device.serial_number == serial))
    if device is None:
        raise NotFound(f"device {serial!r} not found")
    return device


def by_serial(db: Session, serial: str) -> Device | None:
    """The device with that serial, pending or not."""
    if not is_valid_serial(serial):
        return None
    return db.scalar(select(Device).where(Device.serial_number == serial))


def create(db: Session, actor: User | None, serial_number: str, **fields: Any) -> Device:
    """Register a device; serial numbers are unique (Conflict)."""
    check_serial(serial_number)
    taken = db.scalar(select(Device.id).where(Device.topic_id == serial_number))
    if by_serial(db, serial_number) is not None or taken is not None:
        raise Conflict(f"a device with serial {serial_number!r} exists", field="serial_number")
    device = Device(
        serial_number=serial_number,
        status=DEVICE_ACTIVE,
        **{k: v for k, v in fields.items() if k in EDITABLE},
    )
    device.topic_id = _checked_topic_id(db, device, fields.get("topic_id"))
    _check_topic(db, device)
    db.add(device)
    db.flush()
    audit.record(db, actor, "device.create", "device", device.id, {"serial": serial_number})
    return device


def update(db: Session, actor: User | None, device: Device, changes: dict[str, Any]) -> Device:
    """Change name/location/description, the tariff, the serial number (unique) or the
    topic id (``meter/<topic_id>/...``; unique among serials and topic ids; None: the
    serial)."""
    new_serial = changes.get("serial_number")
    if new_serial is not None and new_serial != device.serial_number:
        check_serial(new_serial)
        if by_serial(db, new_serial) is not None or _topic_owner(db, new_serial, device):
            raise Conflict(f"a device with serial {new_serial!r} exists", field="serial_number")
        device.serial_number = new_serial
    if "topic_id" in changes:
        device.topic_id = _checked_topic_id(db, device, changes["topic_id"])
    for key in EDITABLE:
        if key in changes:
            setattr(device, key, changes[key])
    if "tariff_id" in changes:  # None: the install's default tariff
        tariff_id = changes["tariff_id"]
        if tariff_id is not None and db.get(TariffRow, tariff_id) is None:
            raise InvalidInput(f"tariff {tariff_id} does not exist", field="tariff_id")
        device.tariff_id = tariff_id
    _check_topic(db, device)
    audit.record(db, actor, "device.update", "device", device.id, changes)
    db.flush()
    return device


def _check_topic(db: Session, device: Device) -> None:
    """A topic id follows the serial rule (it is one level of an MQTT topic) and names one
    device per protocol (a Tasmota topic or ESPHome prefix must lead to one device)."""
    topic_id = device.topic_id
    if topic_id is None:
        return
    if not is_valid_serial(topic_id):
        raise InvalidInput(f"topic_id must be {SERIAL_RULE}", field="topic_id")
    protocol = device.protocol or "meterhub"
    with db.no_autoflush:
        other = db.scalar(
            select(Device.id).where(
                Device.topic_id == topic_id, Device.protocol == protocol, Device.id != device.id
            )
            if device.id is not None
            else select(Device.id).where(Device.topic_id == topic_id, Device.protocol == protocol)
        )
    if other is not None:
        raise Conflict(f"another {protocol} device has topic id {topic_id!r}", field="topic_id")


def delete_device(db: Session, actor: User | None, device: Device) -> None:
    """Delete the device with its readings and events."""
    audit.record(db, actor, "device.delete", "device", device.id, {"serial": device.serial_number})
    db.delete(device)
    db.flush()


def approve(db: Session, actor: User | None, device: Device) -> Device:
    """Make a pending device active; its kept readings become visible."""
    if device.status != DEVICE_PENDING:
        raise Conflict(f"device {device.serial_number!r} is not pending")
    device.status = DEVICE_ACTIVE
    device.updated_at = utcnow()
    audit.record(db, actor, "device.approve", "device", device.id, {"serial": device.serial_number})
    db.flush()
    return device


def assign(db: Session, actor: User | None, device: Device, user: User) -> None:
    """Let `user` see `device` (idempotent)."""
    if db.get(DeviceAssignment, (user.id, device.id)) is None:
        db.add(DeviceAssignment(user_id=user.id, device_id=device.id))
    audit.record(db, actor, "device.assign", "device", device.id, {"user_id": user.id})
    db.flush()
    db.refresh(device)


def unassign(db: Session, actor: User | None, device: Device, user_id: int) -> None:
    """Stop `user_id` seeing `device`; NotFound when it was not assigned."""
    result = db.execute(
        delete(DeviceAssignment).where(
            DeviceAssignment.device_id == device.id, DeviceAssignment.user_id == user_id
        )
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"user {user_id} is not assigned to device {device.id}")
    audit.record(db, actor, "device.unassign", "device", device.id, {"user_id": user_id})
    db.flush()
    db.refresh(device)


def _topic_owner(db: Session, topic_id: str, device: Device) -> bool:
    """Whether another device uses `topic_id` as its topic id."""
    return (
        db.scalar(select(Device.id).where(Device.topic_id == topic_id, Device.id != device.id))
        is not None
    )


def _checked_topic_id(db: Session, device: Device, topic_id: str | None) -> str | None:
    """An admin's topic id for `device`: the serial rule, and no other device's serial or
    topic id (Conflict); its own serial means no topic id of its own (None)."""
    if topic_id is None or topic_id == device.serial_number:
        return None
    if not is_valid_serial(topic_id):
        raise InvalidInput(f"topic_id must be {SERIAL_RULE}", field="topic_id")
    if by_serial(db, topic_id) is not None or _topic_owner(db, topic_id, device):
        raise Conflict(f"topic id {topic_id!r} belongs to another device", field="topic_id")
    return topic_id


def check_serial(serial: str) -> None:
    """InvalidInput unless `serial` follows the serial rule (:data:`SERIAL_RULE`)."""
    if not is_valid_serial(serial):
        raise InvalidInput(
            f"serial_number must be {SERIAL_RULE}",
            field="serial_number",
        )
