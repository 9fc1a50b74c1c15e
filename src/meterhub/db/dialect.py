"""Statements whose SQL differs between SQLite and PostgreSQL, declared once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import call
from typing import Any

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement


def _insert(conn: Connection, table: Table) -> Any:
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def _plain_sqlite(conn: Connection, table: Table) -> bool:
    """SQLite and a table of plain numbers and strings: rows can skip SQLAlchemy's
    per-row parameter processing (a third of ingest's time) and go to the driver as
    tuples. Identifiers come from our own metadata, never from input."""
    return conn.dialect.name == "sqlite" and table.name in PLAIN_TABLES


PLAIN_TABLES = frozenset({"readings", "rollups_15m", "rollups_1h", "rollups_1d", "ingest_counters"})


def _dicts(columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def insert_ignore(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (tuples in `columns` order), skipping any that collide with the
    primary key."""
    if not rows:
        return
    if _plain_sqlite(conn, table):
        sql = (
            f"INSERT OR IGNORE INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        conn.exec_driver_sql(sql, rows)
        return
    conn.execute(_insert(conn, table).on_conflict_do_nothing(), _dicts(columns, rows))


def insert_unless_exists(
    conn: Connection, table: Table, values: dict[str, Any], returning: str
) -> Any | None:
    """Insert one row and return its `returning` column; None when a row with the same
    unique key exists (or is being inserted by a concurrent transaction that then
    commits): ``INSERT .. ON CONFLICT DO NOTHING RETURNING``, race-free between writers."""
    stmt = _insert(conn, table).values(**values).on_conflict_do_nothing()
    return conn.execute(stmt.returning(table.c[returning])).scalar()


def least(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    """The smaller of two values (SQLite's two-argument min(), PostgreSQL's LEAST)."""
    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)


def greatest(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    """The larger of two values (SQLite's two-argument max(), PostgreSQL's GREATEST)."""
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


def upsert_adding(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    keys: tuple[str, ...],
    add: tuple[str, ...],
    low: tuple[str, ...] = (),
    high: tuple[str, ...] = (),
) -> None:
    """Insert `rows` (tuples in `columns` order); on a key collision add the `add` columns,
    keep the smaller `low` and the larger `high` ones (merging partial aggregates)."""
    if not rows:
        return
    if _plain_sqlite(conn, table):
        t = table.name
        sets = [f"{c} = {t}.{c} + excluded.{c}" for c in add]
        sets += [f"{c} = min({t}.{c}, excluded.{c})" for c in low]
        sets += [f"{c} = max({t}.{c}, excluded.{c})" for c in high]
        sql = (
            f"INSERT INTO {t} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}"
        )
        conn.exec_driver_sql(sql, rows)
        return
    stmt = _insert(conn, table)
    new = stmt.excluded
    updates: dict[str, Any] = {c: table.c[c] + new[c] for c in add}
    updates |= {c: least(conn, table.c[c], new[c]) for c in low}
    updates |= {c: greatest(conn, table.c[c], new[c]) for c in high}
    conn.execute(
        stmt.on_conflict_do_update(index_elements=list(keys), set_=updates), _dicts(columns, rows)
    )


def upsert_replacing(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> None:
    """Insert `rows`, replacing the non-key columns of rows that already exist."""
    if not rows:
        return
    stmt = _insert(conn, table)
    columns = [c for c in rows[0] if c not in keys]
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        ),
        rows,
    )


def aggregate_ranges(
    conn: Connection,
    table: str,
    aggregates: Sequence[tuple[str, Callable[[str], Any]]],
    where: str,
    ranges: str,
) -> list[tuple[Any, ...]]:
    """(index, *aggregates) over the rows `r` of `table` meeting `where` whose `r.bucket`
    is in [lo, hi), for each (index, lo, hi) row of `ranges` (SQL VALUES rows) that
    holds any; `aggregates` pairs SQL over `r` with its type, int or float.

    One subquery per range and no GROUP BY: SQLite groups by sorting every row (half
    the time of a year of local days read from hourly rows), while an index range scan
    per range sorts nothing. PostgreSQL runs the subquery as a LATERAL join; SQLite has
    none, so it packs each range's aggregates in one text, integers in full and floats
    with 17 significant digits, which read back exactly. `table`, `where` and `ranges`
    are SQL: build them from our own names and numbers, never from input."""
    columns = ", ".join(sql for sql, _ in aggregates)
    where = f"{where} AND r.bucket >= p.lo AND r.bucket < p.hi"
    with_ranges = f"WITH p(i, lo, hi) AS (VALUES {ranges})"
    if conn.dialect.name == "postgresql":
        sql = (
            f"{with_ranges} SELECT p.i, a.* FROM p CROSS JOIN LATERAL "  # noqa: S608
            f"(SELECT {columns} FROM {table} r WHERE {where} HAVING count(*) > 0) a"
        )
        return [tuple(row) for row in conn.exec_driver_sql(sql)]
    formats = " ".join("%d" if kind is int else "%!.17g" for _, kind in aggregates)
    sql = (
        f"{with_ranges} SELECT p.i, (SELECT CASE WHEN count(*) > 0 "  # noqa: S608
        f"THEN printf('{formats}', {columns}) END FROM {table} r WHERE {where}) FROM p"
    )
    kinds = [kind for _, kind in aggregates]
    return [
        (index, *map(call, kinds, packed.split(" ")))
        for index, packed in conn.exec_driver_sql(sql).all()
        if packed is not None
    ]


DEVICE_LOCKS: int = 0x6D68  # "mh": the first key of meterhub's advisory locks on devices


def lock_devices(conn: Connection, device_ids: Sequence[int]) -> None:
    """Hold a lock on each device until the transaction ends, taken in ascending order
    (two writers locking overlapping sets cannot deadlock): PostgreSQL's
    ``pg_advisory_xact_lock``. SQLite has one writer at a time anyway: nothing to do."""
    if not device_ids or conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(
        "SELECT count(pg_advisory_xact_lock(%(ns)s, k)) FROM "
        "unnest(%(ids)s::int[]) WITH ORDINALITY AS u(k, n)",
        {"ns": DEVICE_LOCKS, "ids": sorted(set(device_ids))},
    )
