"""Calendar periods in a time zone, 15-minute rollup slots and coverage. Pure (zoneinfo).

Instants are aware datetimes (any zone) or float epoch seconds (UTC). Period boundaries
are local midnights: days, weeks starting Monday, months, years. A local day is 23 or
25 hours around a DST change; a local midnight that does not exist (the clock jumps over
it, e.g. America/Santiago, America/Havana) is replaced by the first instant of that day,
the moment of the jump; a midnight that occurs twice takes the first one.

Careful with the results: Python subtracts and compares two datetimes that share one
tzinfo by their wall clocks, ignoring DST. Use ``Bucket.seconds`` / ``start_ts`` /
``end_ts`` (or convert to UTC) for lengths and ordering.

Every IANA zone today has an offset in whole quarter hours (+05:30, +05:45, +08:45,
+12:45), so every local period boundary is a 15-minute UTC boundary and summaries can be
built exactly from 15-minute rollups (see :func:`check_quarter_hour_boundary`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final, Literal, TypeAlias, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "PERIODS",
    "QUARTER_HOUR_S",
    "Bucket",
    "Instant",
    "Period",
    "PeriodGrid",
    "check_quarter_hour_boundary",
    "coverage",
    "expected_readings",
    "is_quarter_hour_aligned",
    "local_day_range",
    "local_midnight",
    "period_buckets",
    "period_grid",
    "period_start",
    "quarter_hour_floor",
]

Period = Literal["day", "week", "month", "year"]
PERIODS: Final[tuple[str, ...]] = get_args(Period)
QUARTER_HOUR_S: Final = 900
MAX_BUCKETS: Final = 10_000
"""Default cap on :func:`period_buckets` (27 years of days)."""
GRID_CACHE_SIZE: Final = 32
GRID_CACHE_MAX_S: Final = 2 * 366 * 86400
"""Ranges up to two years are cached (a year of days is ~70 kB of grid): 5 MB at most."""

Instant: TypeAlias = datetime | float
"""An aware datetime, or epoch seconds (UTC)."""


@dataclass(slots=True, frozen=True)
class Bucket:
    """One calendar period ``[start, end)``; both ends are aware datetimes in the zone."""

    start: datetime
    end: datetime

    @property
    def start_ts(self) -> float:
        """Start as epoch seconds."""
        return self.start.timestamp()

    @property
    def end_ts(self) -> float:
        """End as epoch seconds."""
        return self.end.timestamp()

    @property
    def seconds(self) -> float:
        """True length (82800 for a 23-hour DST day), unlike ``end - start``."""
        return self.end.timestamp() - self.start.timestamp()


def quarter_hour_floor(ts_epoch: float) -> int:
    """Start (epoch seconds, UTC) of the 15-minute rollup slot holding ``ts_epoch``."""
    return int(ts_epoch // QUARTER_HOUR_S) * QUARTER_HOUR_S


def is_quarter_hour_aligned(instant: Instant) -> bool:
    """True when ``instant`` falls exactly on a 15-minute UTC boundary."""
    return _epoch(instant) % QUARTER_HOUR_S == 0


def check_quarter_hour_boundary(boundary: Instant) -> None:
    """Raise ValueError unless ``boundary`` is a 15-minute UTC boundary.

    A period boundary that is not one cannot be summed exactly from 15-minute rollups
    (only historic local mean times, before ~1980, have such offsets).
    """
    if not is_quarter_hour_aligned(boundary):
        shown = boundary.isoformat() if isinstance(boundary, datetime) else repr(boundary)
        raise ValueError(
            f"boundary {shown} is not on a 15-minute UTC boundary; "
            "15-minute rollups cannot represent it exactly"
        )


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of ``day`` in ``tz``, as an aware datetime in ``tz``.

    Normally 00:00; if the clock jumps over midnight, the instant of the jump (shown as
    e.g. 01:00); if midnight occurs twice, the first. Zero-length days (Pacific/Apia
    skipped 2011-12-30) give the same instant as the next day.
    """
    first = datetime(day.year, day.month, day.day, tzinfo=tz)  # fold=0: the earlier
    before = first.utcoffset()
    after = first.replace(fold=1).utcoffset()
    if before is None or after is None or before >= after:
        return first  # midnight exists (once, or twice and this is the first)
    wall = first.replace(tzinfo=None)
    ts = first.timestamp()
    # In a gap: fold=0 used the offset before the jump, which lands after it. The day
    # starts at the jump: the first whole second whose wall clock reads >= midnight.
    low = math.floor(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = math.ceil(ts)
    if low > high:
        low, high = high, low
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, tz)


def period_start(day: date, period: Period) -> date:
    """The first calendar date of the period holding ``day`` (weeks start Monday)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")


def _next_start(day: date, period: Period) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    if period == "month":
        return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
    return date(day.year + 1, 1, 1)


def period_buckets(
    start_utc: Instant,
    end_utc: Instant,
    period: Period,
    tz: tzinfo | str,
    *,
    clip: bool = False,
    max_buckets: int = MAX_BUCKETS,
) -> list[Bucket]:
    """Calendar periods of ``tz`` that meet ``[start_utc, end_utc)``, in time order.

    Buckets are whole periods aligned to local boundaries, so the first may start before
    ``start_utc`` and the last end after ``end_utc``; with ``clip=True`` those two are cut
    to the range instead. Empty when ``end_utc <= start_utc``. Raises ValueError for an
    unknown period or zone, a naive datetime, or more than ``max_buckets`` buckets.
    """
    zone = _zone(tz)
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    start_ts = _epoch(start_utc)
    end_ts = _epoch(end_utc)
    if end_ts <= start_ts:
        return []
    try:
        day = period_start(datetime.fromtimestamp(start_ts, zone).date(), period)
        bucket_start = local_midnight(day, zone)
        start_at = bucket_start.timestamp()  # once per boundary: zoneinfo makes it slow
        buckets: list[Bucket] = []
        while start_at < end_ts:
            try:
                day = _next_start(day, period)
            except (OverflowError, ValueError):
                raise OverflowError("past the year 9999") from None
            bucket_end = local_midnight(day, zone)
            end_at = bucket_end.timestamp()
            if end_at > start_at:
                if len(buckets) >= max_buckets:
                    raise ValueError(
                        f"the range holds more than {max_buckets} {period} buckets; "
                        "use a longer period or a shorter range"
                    )
                buckets.append(Bucket(bucket_start, bucket_end))
            bucket_start, start_at = bucket_end, end_at
    except (OverflowError, OSError) as exc:
        raise ValueError(f"time range outside the supported years 1-9999: {exc}") from None
    if clip and buckets:
        if buckets[0].start_ts < start_ts:
            buckets[0] = Bucket(datetime.fromtimestamp(start_ts, zone), buckets[0].end)
        if buckets[-1].end_ts > end_ts:
            buckets[-1] = Bucket(buckets[-1].start, datetime.fromtimestamp(end_ts, zone))
    return buckets


@dataclass(slots=True, frozen=True)
class PeriodGrid:
    """Consecutive calendar periods as plain data, the way summaries consume them.

    Period ``i`` is ``[bounds[i], bounds[i + 1])`` in epoch seconds; ``starts[i]`` and
    ``ends[i]`` are its ends as ISO-8601 local times, exactly as :class:`Bucket` shows
    them. Empty when the range holds no period."""

    bounds: tuple[int, ...]
    starts: tuple[str, ...]
    ends: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.starts)


def period_grid(
    start_utc: Instant, end_utc: Instant, period: Period, tz: tzinfo | str
) -> PeriodGrid:
    """:func:`period_buckets` of ``[start_utc, end_utc)`` as a :class:`PeriodGrid`.

    Ranges up to two years are cached: building a year of days with zoneinfo and
    formatting its labels takes a few milliseconds, half of what the summary's queries
    take, and dashboards ask for the same ranges again and again."""
    zone = _zone(tz)
    start_ts, end_ts = _epoch(start_utc), _epoch(end_utc)
    if end_ts - start_ts <= GRID_CACHE_MAX_S:
        return _cached_grid(start_ts, end_ts, period, zone)
    return _build_grid(start_ts, end_ts, period, zone)


def _build_grid(start_ts: float, end_ts: float, period: Period, zone: tzinfo) -> PeriodGrid:
    buckets = period_buckets(start_ts, end_ts, period, zone)
    if not buckets:
        return PeriodGrid((), (), ())
    # int() is exact: zone offsets are whole seconds, so local midnights are too
    bounds = (*(int(b.start_ts) for b in buckets), int(buckets[-1].end_ts))
    return PeriodGrid(
        bounds,
        tuple(b.start.isoformat() for b in buckets),
        tuple(b.end.isoformat() for b in buckets),
    )


_cached_grid = lru_cache(maxsize=GRID_CACHE_SIZE)(_build_grid)


def local_day_range(date_from: date, date_to: date, tz: tzinfo | str) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` covering calendar dates ``date_from``..``date_to`` in ``tz``.

    Both days are included: the end is the local midnight after ``date_to``.
    """
    zone = _zone(tz)
    if date_to < date_from:
        raise ValueError(f"date range ends ({date_to}) before it starts ({date_from})")
    try:
        end = local_midnight(date_to + timedelta(days=1), zone)
    except OverflowError:
        raise ValueError(f"date {date_to} is too late") from None
    return local_midnight(date_from, zone).astimezone(UTC), end.astimezone(UTC)


def expected_readings(seconds: float, interval_s: float) -> float:
    """How many readings a meter reporting every ``interval_s`` sends in ``seconds``."""
    if not interval_s > 0:
        raise ValueError(f"reading interval must be positive, got {interval_s!r} s")
    return max(seconds, 0.0) / interval_s


def coverage(
    count: int,
    bucket_start: Instant,
    bucket_end: Instant,
    interval_s: float,
    now: Instant,
) -> float:
    """Share 0..1 of the readings expected in a bucket that arrived.

    Only the part of the bucket before ``now`` is expected (a future bucket gives 0.0);
    more readings than expected (a shorter interval, duplicates) give 1.0.
    """
    start = _epoch(bucket_start)
    elapsed = min(_epoch(bucket_end), _epoch(now)) - start
    expected = expected_readings(elapsed, interval_s)
    if expected <= 0.0 or count <= 0:
        return 0.0
    return min(1.0, count / expected)


def _epoch(instant: Instant) -> float:
    if isinstance(instant, datetime):
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"time {instant.isoformat()} has no offset; give an aware datetime")
        return instant.timestamp()
    return float(instant)


def _zone(tz: tzinfo | str) -> tzinfo:
    if not isinstance(tz, str):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {tz!r}; use an IANA name such as Europe/Berlin"
        ) from None
