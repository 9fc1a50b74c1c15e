"""What happened to devices and what ingest refused: the device event log and the dead
letters, newest first, paged by id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterhub.db.models import DeviceEvent, IngestReject


def device_events(
    db: Session, device_id: int, limit: int, before_id: int | None, kind: str | None
) -> list[dict[str, Any]]:
    """A device's events (`kind` filters), newest first, ids below `before_id`."""
    query = (
        select(DeviceEvent)
        .where(DeviceEvent.device_id == device_id)
        .order_by(DeviceEvent.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(DeviceEvent.id < before_id)
    if kind:
        query = query.where(DeviceEvent.kind == kind)
    return [
        {
            "id": e.id,
            "ts": e.ts.isoformat().replace("+00:00", "Z"),
            "kind": e.kind,
            "detail": e.detail,
        }
        for e in db.scalars(query)
    ]


def ingest_rejects(
    db: Session, limit: int, before_id: int | None, reason: str | None
) -> list[dict[str, Any]]:
    """Ingest's dead letters (`reason` filters), newest first, ids below `before_id`."""
    query = select(IngestReject).order_by(IngestReject.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(IngestReject.id < before_id)
    if reason:
        query = query.where(IngestReject.reason == reason)
    return [
        {
            "id": r.id,
            "ts": r.ts.isoformat(),
            "topic": r.topic,
            "serial": r.serial,
            "reason": r.reason,
            "detail": r.detail,
            "payload": r.payload,
        }
        for r in db.scalars(query)
    ]
