"""What ingest refused (dead letters), for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from meterhub.api.deps import AdminUser, DbSession
from meterhub.api.schemas import IdQuery
from meterhub.db.models import IngestReject

router = APIRouter(prefix="/api/ingest", tags=["ingest"])


@router.get("/rejects")
def rejects(
    admin: AdminUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: IdQuery = None,
    reason: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")] = None,
) -> list[dict[str, Any]]:
    """Newest first: time, topic, serial, reason, detail and the (truncated) payload."""
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
