"""Energy of one device over many time ranges in one statement per rollup width.

Each range [lo, hi) (epoch s, quarter-hour aligned) is split by `rollup.cover` into the
coarsest rollup pieces that fit (daily inside, hourly and 15-minute at the edges), and
`dialect.aggregate_ranges` sums every piece with one index range scan: a year of local
days, or of time-of-use runs within days, is read without grouping or sorting rows."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy.engine import Connection

from meterhub.db import dialect
from meterhub.telemetry import queries
from meterhub.telemetry.rollup import cover

_ENERGY = (("sum(r.energy_wh)", int),)


def range_wh(conn: Connection, device_id: int, ranges: Sequence[tuple[int, int]]) -> list[int]:
    """Wh of the device in each of `ranges`."""
    out = [0] * len(ranges)
    for width, rows in _pieces(tuple(ranges)):
        table = queries.ROLLUP_TABLES[width].name
        for idx, wh in dialect.aggregate_ranges(
            conn, table, _ENERGY, f"r.device_id = {int(device_id)}", rows
        ):
            out[idx] += wh
    return out


@lru_cache(maxsize=64)
def _pieces(ranges: tuple[tuple[int, int], ...]) -> tuple[tuple[int, str], ...]:
    """Per rollup width, the `cover` pieces of every range as SQL VALUES rows (index, lo,
    hi): cached, as dashboards ask for the same days again and again."""
    pieces: dict[int, list[str]] = {}
    for idx, (lo, hi) in enumerate(ranges):
        for width, a, b in cover(lo, hi):
            pieces.setdefault(width, []).append(f"({idx}, {a}, {b})")
    return tuple((width, ", ".join(rows)) for width, rows in pieces.items())
