"""Statements whose SQL differs between SQLite and PostgreSQL, declared once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement


def _insert(conn: Connection, table: Table) -> Any:
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows`, skipping any that collide with the primary key."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows)


def least(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    """The smaller of two values (SQLite's two-argument min(), PostgreSQL's LEAST)."""
    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)


def greatest(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    """The larger of two values (SQLite's two-argument max(), PostgreSQL's GREATEST)."""
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


def upsert_adding(conn: Connection, table: Table, rows: list[dict[str, Any]],
                  keys: tuple[str, ...], add: tuple[str, ...], low: tuple[str, ...] = (),
                  high: tuple[str, ...] = ()) -> None:
    """Insert `rows`; on a key collision add the `add` columns, keep the smaller `low` and
    the larger `high` ones (merging partial aggregates)."""
    if not rows:
        return
    stmt = _insert(conn, table)
    new = stmt.excluded
    updates: dict[str, Any] = {c: table.c[c] + new[c] for c in add}
    updates |= {c: least(conn, table.c[c], new[c]) for c in low}
    updates |= {c: greatest(conn, table.c[c], new[c]) for c in high}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)


def upsert_replacing(conn: Connection, table: Table, rows: list[dict[str, Any]],
                     keys: tuple[str, ...]) -> None:
    """Insert `rows`, replacing the non-key columns of rows that already exist."""
    if not rows:
        return
    stmt = _insert(conn, table)
    columns = [c for c in rows[0] if c not in keys]
    conn.execute(stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}), rows)
