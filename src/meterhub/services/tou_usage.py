"""Energy per local day and rate for time-of-use costing, summed by the database.

On a day whose UTC offset holds from midnight to midnight (every day but the two DST
days of a year), a rate's wall-clock run (say 09:30-11:30) is one UTC range, so a year
of days becomes a few thousand ranges that `energy_sums.range_wh` sums with index range
scans (hourly and daily rollups where they fit): no row is read one by one. DST days
(and days whose midnight is not whole with the offset, which no zone has today) are read
row by row and priced by `split_slots`, which looks up each row's wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from meterhub.services.energy_sums import range_wh
from meterhub.tariffs.engine import CompiledVersion, Tariff, split_slots
from meterhub.tariffs.model import SLOTS_PER_DAY

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def tou_usage(
    conn: Connection,
    tariff: Tariff,
    device_id: int,
    bounds: tuple[int, ...],
    starts: tuple[str, ...],
    table: str,
) -> dict[date, list[int]]:
    """Wh per day and rate over the days [bounds[i], bounds[i + 1]) whose local starts
    are `starts`; DST days are read from rollup `table` (whose rows must not straddle a
    rate change)."""
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
    # One range per run of equal rate within each whole day: [lo + q0 * 900, lo + q1 * 900)
    ranges: list[tuple[int, int]] = []
    keys: list[tuple[date, int, int]] = []  # (day, rate, rates of that day's version)
    for run in runs:
        version = run.version
        size = len(version.rate_names) if version.kind == "tou" else 1
        for lo in range(run.lo, run.hi, 86400):
            day = date.fromordinal((lo + run.off) // 86400 + EPOCH_ORDINAL)
            row = version.slot_rate[day.weekday()] if size > 1 else (0,) * SLOTS_PER_DAY
            q = 0
            while q < SLOTS_PER_DAY:
                end = q
                while end + 1 < SLOTS_PER_DAY and row[end + 1] == row[q]:
                    end += 1
                ranges.append((lo + q * 900, lo + (end + 1) * 900))
                keys.append((day, row[q], size))
                q = end + 1
    for (day, rate, size), wh in zip(keys, range_wh(conn, device_id, ranges), strict=True):
        if wh:
            out.setdefault(day, [0] * size)[rate] += wh
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
