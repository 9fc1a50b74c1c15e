"""Liveness: does the database answer."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine


def database_error(engine: Engine) -> str | None:
    """None when the database answers `SELECT 1`, else what went wrong (the exception's
    type only: the message may carry the URL)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database unreachable: {type(exc).__name__}"
    return None
