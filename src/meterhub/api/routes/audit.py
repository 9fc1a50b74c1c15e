"""The audit log (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from meterhub.api.deps import AdminUser, DbSession
from meterhub.api.schemas import AuditOut, IdQuery
from meterhub.services import audit

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
def list_audit(
    admin: AdminUser,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: IdQuery = None,
) -> list[AuditOut]:
    """Newest first; pass the last id as `before_id` for the next page."""
    return [
        AuditOut.model_validate(e, from_attributes=True) for e in audit.recent(db, limit, before_id)
    ]
