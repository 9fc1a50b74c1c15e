"""The audit log: who did what, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterhub.db.models import AuditEntry, User


def record(
    db: Session,
    actor: User | None,
    action: str,
    target_type: str | None = None,
    target_id: object = None,
    detail: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> None:
    """Add an audit entry to the session (committed with the action it describes)."""
    db.add(
        AuditEntry(
            actor_id=actor.id if actor else None,
            actor_name=actor.username if actor else "system",
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            detail=detail,
            client_ip=client_ip,
        )
    )


def recent(db: Session, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
    """Newest entries first; page with `before_id`."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db.scalars(query))
