"""Energy per local day and rate for time-of-use costing, summed by the database.

On a day whose UTC offset holds from midnight to midnight (every day but the two DST
days of a year), the wall-clock time of a rollup row is `bucket + offset`, so the
database can sum a year of rows straight into (day, rate) groups: a letter picked from
the week's quarter hours by weekday and quarter hour names the rate. DST days (and days
whose midnight is not whole with the offset, which no zone has today) are read row by
row and priced by `split_slots`, which looks up each row's wall clock. Portable SQL
(integer arithmetic, substr, GROUP BY positions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from meterhub.tariffs.engine import CompiledVersion, Tariff, split_slots
from meterhub.tariffs.model import SLOTS_PER_DAY

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
THURSDAY = 3  # 1970-01-01 was a Thursday (weekday() == 3)


def tou_usage(
    conn: Connection,
    tariff: Tariff,
    device_id: int,
    bounds: tuple[int, ...],
    starts: tuple[str, ...],
    table: str,
) -> dict[date, list[int]]:
    """Wh per day and rate over the days [bounds[i], bounds[i + 1]) whose local starts
    are `starts`, read from rollup `table` (its rows must not straddle a rate change)."""
    out: dict[date, list[int]] = {}
    runs: list[_Run] = []
    irregular: list[tuple[int, int]] = []
    for i, label in enumerate(starts):
        lo, hi = bounds[i], bounds[i + 1]
        offset = datetime.fromisoformat(label).utcoffset()
        off = int(offset.total_seconds()) if offset is not None else 0
        day = date.fromisoformat(label[:10])
        version = tariff.version_on(day)
        if hi - lo != 86400 or (lo + off) % 86400:
            irregular.append((lo, hi))
        elif runs and runs[-1].hi == lo and runs[-1].off == off and runs[-1].version is version:
            runs[-1].hi = hi
        else:
            runs.append(_Run(lo, hi, off, version))
    for run in runs:
        size = len(run.version.rate_names) if run.version.kind == "tou" else 1
        for day_no, rate, wh in conn.execute(text(_sql(table, int(device_id), run))):
            day = date.fromordinal(int(day_no) + EPOCH_ORDINAL)
            out.setdefault(day, [0] * size)[ord(rate) - 97] += int(wh)
    for lo, hi in irregular:
        rows = conn.execute(
            text(
                f"SELECT bucket, energy_wh FROM {table} WHERE device_id = {int(device_id)} "  # noqa: S608
                f"AND bucket >= {int(lo)} AND bucket < {int(hi)} AND energy_wh != 0 "
                "ORDER BY bucket"
            )
        ).all()
        out.update(split_slots(tariff, [(int(b), int(wh)) for b, wh in rows]))
    return out


@dataclass(slots=True)
class _Run:
    """Consecutive whole days [lo, hi) (epoch s) with one UTC offset and one version."""

    lo: int
    hi: int
    off: int
    version: CompiledVersion


def _sql(table: str, device_id: int, run: _Run) -> str:
    """(epoch day, rate index, Wh) per local day and rate of the run's rows."""
    lo, hi, off, version = run.lo, run.hi, run.off, run.version
    return (
        f"SELECT d, {_rate_of(version)} AS rate, sum(wh) FROM ("  # noqa: S608
        f"SELECT (bucket + {off}) / 86400 AS d, ((bucket + {off}) / 86400 + {THURSDAY}) % 7 AS wd, "
        f"((bucket + {off}) % 86400) / 900 AS q, energy_wh AS wh FROM {table} "
        f"WHERE device_id = {device_id} AND bucket >= {lo} AND bucket < {hi} "
        "AND energy_wh != 0) s GROUP BY 1, 2"
    )


def _rate_of(version: CompiledVersion) -> str:
    """SQL naming the rate of (wd, q) as a letter (a = rate 0): one substr() into the week's
    672 quarter hours (simpler for the database than a CASE with a WHEN per window)."""
    if version.kind != "tou":
        return "'a'"
    week = "".join(chr(97 + r) for row in version.slot_rate for r in row)
    # CAST: PostgreSQL has substr(text, integer, integer), and the product is a bigint
    return f"substr('{week}', CAST(wd * {SLOTS_PER_DAY} + q + 1 AS INTEGER), 1)"
