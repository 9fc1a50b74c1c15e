"""What ingest refused (dead letters), for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from meterhub.api.deps import AdminUser, DbSession
from meterhub.api.read_schemas import IngestRejectOut
from meterhub.api.schemas import IdQuery
from meterhub.services import activity

router = APIRouter(prefix="/api/ingest", tags=["ingest"])


@router.get("/rejects", response_model=list[IngestRejectOut])
def rejects(
    admin: AdminUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: IdQuery = None,
    reason: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")] = None,
) -> list[dict[str, Any]]:
    """Newest first: time, topic, serial, reason, detail and the (truncated) payload."""
    return activity.ingest_rejects(db, limit, before_id, reason)
