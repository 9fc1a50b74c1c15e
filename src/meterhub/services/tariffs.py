"""Tariffs: create, change, delete, the install's default, and who may read which.

A tariff is stored as its validated document; costs are always computed from it, so a
corrected version re-costs all history the next time anything is read. Users may read the
tariffs of the devices they see (their own, or the default for a device without one);
any other tariff is a 404 for them, like a device they may not see.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from meterhub.db.models import Device, TariffRow, User
from meterhub.errors import Conflict, InvalidInput, NotFound
from meterhub.services import audit, devices
from meterhub.tariffs.engine import Tariff
from meterhub.tariffs.model import TariffDoc


def document(row: TariffRow) -> TariffDoc:
    """The stored document of `row`, parsed."""
    return TariffDoc.model_validate(row.definition)


def compiled(row: TariffRow) -> Tariff:
    """`row` ready for the cost engine."""
    return Tariff.of(document(row))


def _store(doc: TariffDoc, default_tz: str) -> dict[str, Any]:
    if doc.timezone is None:
        doc = doc.model_copy(update={"timezone": default_tz})
    data = doc.model_dump(mode="json", by_alias=True)
    data.pop("is_default", None)  # a flag of the row (API input), not of the document
    return data


def _check_name(db: Session, name: str, keep_id: int | None = None) -> None:
    other = db.scalar(select(TariffRow.id).where(TariffRow.name == name))
    if other is not None and other != keep_id:
        raise Conflict(f"a tariff named {name!r} exists", field="name")


def _set_default(db: Session, row: TariffRow, is_default: bool) -> None:
    if is_default:  # at most one default: the others lose the flag
        db.execute(update(TariffRow).where(TariffRow.id != row.id).values(is_default=False))
    row.is_default = is_default


def create(
    db: Session, actor: User, doc: TariffDoc, is_default: bool, default_tz: str
) -> TariffRow:
    """Store a new tariff (Conflict when the name is taken)."""
    _check_name(db, doc.name)
    row = TariffRow(name=doc.name, currency=doc.currency, definition=_store(doc, default_tz))
    db.add(row)
    db.flush()
    _set_default(db, row, is_default)
    audit.record(db, actor, "tariff.create", "tariff", row.id, {"name": doc.name})
    db.flush()
    return row


def replace(
    db: Session, actor: User, row: TariffRow, doc: TariffDoc, is_default: bool, default_tz: str
) -> TariffRow:
    """Replace the document (and default flag) of `row`: history is re-costed with it."""
    _check_name(db, doc.name, keep_id=row.id)
    row.name, row.currency, row.definition = doc.name, doc.currency, _store(doc, default_tz)
    _set_default(db, row, is_default)
    audit.record(db, actor, "tariff.update", "tariff", row.id, {"name": doc.name})
    db.flush()
    return row


def delete(db: Session, actor: User, row: TariffRow) -> None:
    """Delete a tariff no device uses (Conflict otherwise)."""
    users_of = db.scalar(select(func.count()).where(Device.tariff_id == row.id)) or 0
    if users_of:
        raise Conflict(f"tariff {row.name!r} is assigned to {users_of} device(s); reassign first")
    audit.record(db, actor, "tariff.delete", "tariff", row.id, {"name": row.name})
    db.delete(row)
    db.flush()


def default(db: Session) -> TariffRow | None:
    """The install's default tariff, if one is set."""
    return db.scalar(select(TariffRow).where(TariffRow.is_default.is_(True)).limit(1))


def for_device(db: Session, device: Device) -> TariffRow | None:
    """The tariff that costs `device`: its own, else the default."""
    if device.tariff_id is not None:
        row = db.get(TariffRow, device.tariff_id)
        if row is not None:
            return row
    return default(db)


def device_counts(db: Session) -> dict[int, int]:
    """Devices per tariff id (explicit assignments only)."""
    rows = db.execute(
        select(Device.tariff_id, func.count())
        .where(Device.tariff_id.is_not(None))
        .group_by(Device.tariff_id)
    )
    return {int(tid): int(n) for tid, n in rows if tid is not None}


def list_visible(db: Session, user: User) -> list[TariffRow]:
    """Admins: every tariff; users: the tariffs that cost their devices."""
    if user.is_admin:
        return list(db.scalars(select(TariffRow).order_by(TariffRow.name)))
    ids = {row.id for d in devices.list_visible(db, user) if (row := for_device(db, d))}
    if not ids:
        return []
    return list(db.scalars(select(TariffRow).where(TariffRow.id.in_(ids)).order_by(TariffRow.name)))


def get_visible(db: Session, user: User, tariff_id: int) -> TariffRow:
    """The tariff if `user` may read it; otherwise NotFound."""
    row = db.get(TariffRow, tariff_id)
    if row is None or not (user.is_admin or row in list_visible(db, user)):
        raise NotFound(f"tariff {tariff_id} not found")
    return row


def check_exists(db: Session, tariff_id: int | None) -> None:
    """InvalidInput unless `tariff_id` is None or an existing tariff (device assignment)."""
    if tariff_id is not None and db.get(TariffRow, tariff_id) is None:
        raise InvalidInput(f"tariff {tariff_id} does not exist", field="tariff_id")
