"""Events that late readings change: seq gaps they close, counter events they move.

Seq gaps that late readings close. A gap is recorded when in-order readings skip seq
numbers; when the missing readings arrive after all (out of order: a backlog, or another
ingest worker that stored a later reading first), their seq numbers leave the gap, so
the events say what is really missing, as if every reading had come in order.

A gap event knows the readings around it (``after_ms``, ``before_ms``): a late reading
closes it only when it lies between them (a device that restarted reuses seq numbers)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from meterhub.store.tables import EVENTS

COUNTER_KINDS = ("reset", "wrap", "swap", "jump", "counter")
"""The kinds of counter events (see ``readings._counter_event``)."""


def gap_detail(first: int, last: int, after_ms: int | None, before_ms: int) -> dict[str, Any]:
    """A ``seq_gap`` event's detail: seq numbers first..last missing between the readings
    at `after_ms` and `before_ms`."""
    return {
        "missing_from": first,
        "missing_to": last,
        "missing": last - first + 1,
        "after_ms": after_ms,
        "before_ms": before_ms,
    }


def close_gaps(conn: Connection, late: dict[int, list[tuple[int, int]]]) -> None:
    """Take the seq numbers of late readings (device id -> [(ts ms, seq)]) out of the
    device's ``seq_gap`` events; a gap left empty disappears, one split in two becomes
    two events (with the original's time)."""
    for device_id, stamps in late.items():
        if not stamps:
            continue
        gaps = conn.execute(
            select(EVENTS.c.id, EVENTS.c.ts, EVENTS.c.detail).where(
                EVENTS.c.device_id == device_id, EVENTS.c.kind == "seq_gap"
            )
        ).all()
        for gap in gaps:
            detail = gap.detail or {}
            if "before_ms" not in detail:
                continue  # recorded before gaps knew their readings
            pieces = [
                (
                    detail["missing_from"],
                    detail["missing_to"],
                    detail["after_ms"],
                    detail["before_ms"],
                )
            ]
            for ts, seq in sorted(stamps):
                pieces = [p for piece in pieces for p in _without(piece, ts, seq)]
            if len(pieces) == 1 and pieces[0][:2] == (
                detail["missing_from"],
                detail["missing_to"],
            ):
                continue  # untouched
            conn.execute(delete(EVENTS).where(EVENTS.c.id == gap.id))
            if pieces:
                conn.execute(
                    insert(EVENTS),
                    [
                        {
                            "device_id": device_id,
                            "ts": gap.ts,
                            "kind": "seq_gap",
                            "detail": gap_detail(*piece),
                        }
                        for piece in pieces
                    ],
                )


def _without(
    piece: tuple[int, int, int | None, int], ts: int, seq: int
) -> list[tuple[int, int, int | None, int]]:
    """`piece` (first, last, after_ms, before_ms) without the reading (ts, seq)."""
    first, last, after_ms, before_ms = piece
    if not (first <= seq <= last) or ts >= before_ms or (after_ms is not None and ts <= after_ms):
        return [piece]
    left = [(first, seq - 1, after_ms, ts)] if seq > first else []
    right = [(seq + 1, last, ts, before_ms)] if seq < last else []
    return left + right


def drop_counter_events(conn: Connection, device_id: int, at: list[str]) -> None:
    """Delete the device's counter events at the readings `at` (ISO times): a late
    reading became their predecessor, so they were computed against the wrong one (the
    recomputation records them again if they still hold)."""
    if not at:
        return
    wanted = set(at)
    rows = conn.execute(
        select(EVENTS.c.id, EVENTS.c.detail).where(
            EVENTS.c.device_id == device_id, EVENTS.c.kind.in_(COUNTER_KINDS)
        )
    ).all()
    stale = [row.id for row in rows if (row.detail or {}).get("at") in wanted]
    if stale:
        conn.execute(delete(EVENTS).where(EVENTS.c.id.in_(stale)))
