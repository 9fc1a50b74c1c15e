"""The audit log: who did what, when, from where; bounded in size."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from meterhub.db.models import AuditEntry, User

# The client address of the request being handled (set by the web app's middleware), so
# that every entry says where it came from without each caller passing it along.
current_client_ip: ContextVar[str | None] = ContextVar("meterhub_client_ip", default=None)


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
            client_ip=client_ip or current_client_ip.get(),
        )
    )


def recent(db: Session, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
    """Newest entries first; page with `before_id`."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(db.scalars(query))


def prune(db: Session, max_rows: int) -> int:
    """Delete the oldest entries beyond the newest `max_rows`; returns how many went."""
    newest = db.scalar(select(func.max(AuditEntry.id)))
    if newest is None or newest <= max_rows:
        return 0
    result = db.execute(delete(AuditEntry).where(AuditEntry.id <= newest - max_rows))
    return int(getattr(result, "rowcount", 0) or 0)
