"""Calendar periods in time zones, 15-minute alignment and coverage."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterhub.telemetry.periods import (
    Bucket,
    Period,
    PeriodGrid,
    check_quarter_hour_boundary,
    coverage,
    expected_readings,
    is_quarter_hour_aligned,
    local_day_range,
    local_midnight,
    period_buckets,
    period_grid,
    period_start,
    quarter_hour_floor,
)

H = 3600.0
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type, misc]


def spans(buckets: list[Bucket]) -> list[tuple[str, str, float]]:
    return [(b.start.isoformat(), b.end.isoformat(), b.seconds / H) for b in buckets]


def test_berlin_spring_forward_day_is_23_hours() -> None:
    days = period_buckets(utc(2026, 3, 28, 12), utc(2026, 3, 30, 12), "day", BERLIN)
    assert spans(days) == [
        ("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", 24.0),
        ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", 23.0),
        ("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00", 24.0),
    ]


def test_berlin_fall_back_day_is_25_hours() -> None:
    (day,) = period_buckets(utc(2026, 10, 25, 1), utc(2026, 10, 25, 2), "day", "Europe/Berlin")
    assert spans([day]) == [("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", 25.0)]
    # same tzinfo: Python's own subtraction would say 24 h; Bucket.seconds is right
    assert day.end - day.start == timedelta(hours=24)
    assert day.end_ts - day.start_ts == 25 * H


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("Asia/Kolkata", "+05:30"), ("Asia/Kathmandu", "+05:45"), ("Asia/Ho_Chi_Minh", "+07:00")],
)
def test_fractional_and_plain_offsets(zone: str, offset: str) -> None:
    days = period_buckets(utc(2026, 11, 26, 12), utc(2026, 11, 28, 12), "day", zone)
    assert [b.start.isoformat() for b in days] == [
        f"2026-11-26T00:00:00{offset}",
        f"2026-11-27T00:00:00{offset}",
        f"2026-11-28T00:00:00{offset}",
    ]
    assert all(b.seconds == 24 * H for b in days)
    assert all(is_quarter_hour_aligned(b.start) for b in days)
    months = period_buckets(utc(2026, 1, 15), utc(2026, 3, 15), "month", zone)
    assert [b.start.isoformat()[:10] for b in months] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert [b.seconds / 86400 for b in months] == [31, 28, 31]


def test_kathmandu_midnight_in_utc() -> None:
    (day,) = period_buckets(utc(2026, 11, 27, 0), utc(2026, 11, 27, 1), "day", "Asia/Kathmandu")
    assert day.start.astimezone(UTC) == utc(2026, 11, 26, 18, 15)
    assert quarter_hour_floor(day.start_ts) == day.start_ts


def test_weeks_start_on_monday() -> None:
    # 2026-11-27 is a Friday
    (week,) = period_buckets(utc(2026, 11, 27, 10), utc(2026, 11, 27, 11), "week", BERLIN)
    assert week.start.isoformat() == "2026-11-23T00:00:00+01:00"
    assert week.end.isoformat() == "2026-11-30T00:00:00+01:00"
    assert week.start.weekday() == 0
    dst_week = period_buckets(utc(2026, 3, 28), utc(2026, 3, 29), "week", BERLIN)
    assert dst_week[0].seconds == 7 * 24 * H - H


def test_months_and_years() -> None:
    months = period_buckets(utc(2027, 12, 31, 12), utc(2028, 3, 1, 12), "month", BERLIN)
    assert [(b.start.date().isoformat(), b.seconds / 86400) for b in months] == [
        ("2027-12-01", 31),
        ("2028-01-01", 31),
        ("2028-02-01", 29),  # leap year
        ("2028-03-01", 31 - 1 / 24),  # DST starts 2028-03-26
    ]
    years = period_buckets(utc(2026, 6, 1), utc(2028, 6, 1), "year", BERLIN)
    assert [b.start.isoformat() for b in years] == [
        "2026-01-01T00:00:00+01:00",
        "2027-01-01T00:00:00+01:00",
        "2028-01-01T00:00:00+01:00",
    ]
    assert [b.seconds / 86400 for b in years] == [365, 365, 366]


def test_range_is_half_open() -> None:
    midnight = datetime(2026, 11, 27, tzinfo=BERLIN)
    days = period_buckets(midnight, midnight + timedelta(days=1), "day", BERLIN)
    assert len(days) == 1
    assert period_buckets(midnight, midnight, "day", BERLIN) == []
    assert period_buckets(midnight, midnight - timedelta(seconds=1), "day", BERLIN) == []
    assert len(period_buckets(midnight.timestamp(), midnight.timestamp() + 1, "day", BERLIN)) == 1


def test_clip_cuts_first_and_last() -> None:
    start, end = utc(2026, 11, 27, 10), utc(2026, 11, 29, 10)
    days = period_buckets(start, end, "day", "UTC", clip=True)
    assert [(b.start_ts, b.end_ts) for b in days] == [
        (start.timestamp(), utc(2026, 11, 28).timestamp()),
        (utc(2026, 11, 28).timestamp(), utc(2026, 11, 29).timestamp()),
        (utc(2026, 11, 29).timestamp(), end.timestamp()),
    ]


def test_midnight_that_does_not_exist() -> None:
    # Chile springs forward at 24:00: 2026-09-06 begins at 01:00 -03
    santiago = ZoneInfo("America/Santiago")
    days = period_buckets(utc(2026, 9, 5, 12), utc(2026, 9, 7, 12), "day", santiago)
    assert spans(days) == [
        ("2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00", 24.0),
        ("2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00", 23.0),
        ("2026-09-07T00:00:00-03:00", "2026-09-08T00:00:00-03:00", 24.0),
    ]
    assert local_midnight(date(2026, 3, 8), ZoneInfo("America/Havana")).isoformat() == (
        "2026-03-08T01:00:00-04:00"
    )


def test_skipped_day_gives_no_bucket() -> None:
    # Samoa skipped 2011-12-30 when it crossed the date line
    days = period_buckets(utc(2011, 12, 29, 12), utc(2011, 12, 30, 12), "day", "Pacific/Apia")
    assert [b.start.date().isoformat() for b in days] == ["2011-12-29", "2011-12-31"]
    assert days[0].end == days[1].start
    assert all(b.seconds == 24 * H for b in days)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown period"):
        period_buckets(utc(2026, 1, 1), utc(2026, 2, 1), "fortnight", BERLIN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown time zone"):
        period_buckets(utc(2026, 1, 1), utc(2026, 2, 1), "day", "Mars/Olympus")
    with pytest.raises(ValueError, match="no offset"):
        period_buckets(datetime(2026, 1, 1), utc(2026, 2, 1), "day", BERLIN)
    with pytest.raises(ValueError, match="more than 10 day buckets"):
        period_buckets(utc(2026, 1, 1), utc(2026, 2, 1), "day", BERLIN, max_buckets=10)
    with pytest.raises(ValueError, match="years 1-9999"):
        period_buckets(utc(9999, 12, 1), utc(9999, 12, 31, 23), "year", "Asia/Tokyo")


def test_period_start() -> None:
    friday = date(2026, 11, 27)
    assert period_start(friday, "day") == friday
    assert period_start(friday, "week") == date(2026, 11, 23)
    assert period_start(friday, "month") == date(2026, 11, 1)
    assert period_start(friday, "year") == date(2026, 1, 1)


def test_local_day_range_includes_both_days() -> None:
    start, end = local_day_range(date(2026, 3, 29), date(2026, 3, 29), BERLIN)
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert start.tzinfo is UTC
    start, end = local_day_range(date(2026, 11, 1), date(2026, 11, 30), "Asia/Kolkata")
    assert (start, end) == (utc(2026, 10, 31, 18, 30), utc(2026, 11, 30, 18, 30))
    with pytest.raises(ValueError, match="before it starts"):
        local_day_range(date(2026, 1, 2), date(2026, 1, 1), BERLIN)


# -------------------------------------------------------------- quarter hours


def test_quarter_hour_floor() -> None:
    assert quarter_hour_floor(0) == 0
    assert quarter_hour_floor(899.999) == 0
    assert quarter_hour_floor(900) == 900
    assert quarter_hour_floor(1795773600 + 14 * 60 + 59.9) == 1795773600
    assert quarter_hour_floor(-1) == -900


@given(st.floats(min_value=-1e10, max_value=1e10))
def test_quarter_hour_floor_property(ts: float) -> None:
    slot = quarter_hour_floor(ts)
    assert isinstance(slot, int) and slot % 900 == 0
    assert slot <= ts < slot + 900


def test_check_quarter_hour_boundary() -> None:
    check_quarter_hour_boundary(datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Kathmandu")))
    check_quarter_hour_boundary(1795773600.0)
    with pytest.raises(ValueError, match="15-minute"):
        # Amsterdam kept local mean time (+00:19:32) until 1937
        check_quarter_hour_boundary(datetime(1930, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")))


def test_every_zone_boundary_2000_2030_is_on_a_quarter_hour() -> None:
    """All local midnights 2000-2030, every IANA zone, fall on 15-minute UTC boundaries.

    Zones are grouped by their offsets and names at each month start; in each group one
    zone is checked day by day across every month in which its offset changes (where a
    midnight may be skipped), and every offset seen must be whole quarter hours.
    """
    groups: dict[tuple[tuple[timedelta | None, str | None], ...], str] = {}
    for name in sorted(available_timezones()):
        zone = ZoneInfo(name)
        starts = [datetime(y, m, 1, tzinfo=zone) for y in range(2000, 2031) for m in range(1, 13)]
        groups.setdefault(tuple((s.utcoffset(), s.tzname()) for s in starts), name)
    assert len(groups) > 100
    checked = 0
    for signature, name in groups.items():
        zone = ZoneInfo(name)
        for offset, _abbr in signature:
            assert offset is not None and offset.total_seconds() % 900 == 0, name
        for i in range(1, len(signature)):
            if signature[i][0] == signature[i - 1][0]:
                continue
            day = date(2000 + (i - 1) // 12, (i - 1) % 12 + 1, 1)
            month, previous = day.month, signature[i - 1][0]
            while day.month == month:
                offset = datetime(day.year, day.month, day.day, tzinfo=zone).utcoffset()
                assert offset is not None and offset.total_seconds() % 900 == 0, name
                if offset != previous:  # a change: look at the boundaries around it
                    for around in (day - timedelta(days=1), day):
                        boundary = local_midnight(around, zone)
                        check_quarter_hour_boundary(boundary)
                        checked += 1
                previous = offset
                day += timedelta(days=1)
    assert checked > 1000


zones = st.sampled_from(sorted(available_timezones()))
periods = st.sampled_from(["day", "week", "month", "year"])
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)


@given(zone=zones, period=periods, start=instants, hours=st.floats(min_value=0.001, max_value=2000))
@settings(max_examples=150)
def test_buckets_tile_the_range(zone: str, period: Period, start: datetime, hours: float) -> None:
    end = start + timedelta(hours=hours)
    tz = ZoneInfo(zone)
    buckets = period_buckets(start, end, period, tz)
    assert buckets
    assert buckets[0].start_ts <= start.timestamp() < buckets[0].end_ts
    assert buckets[-1].start_ts < end.timestamp() <= buckets[-1].end_ts
    for bucket, following in itertools.pairwise(buckets):
        assert bucket.end == following.start and bucket.end_ts == following.start_ts
    for bucket in buckets:
        assert bucket.start.tzinfo is tz and bucket.end.tzinfo is tz
        assert bucket.seconds > 0
        assert is_quarter_hour_aligned(bucket.start) and is_quarter_hour_aligned(bucket.end)
        local = bucket.start
        assert local.date() == period_start(local.date(), period)
        if period == "day":
            assert 22 * H <= bucket.seconds <= 26 * H
        assert (local.hour, local.minute) == (0, 0) or local_midnight(local.date(), tz) == local
    clipped = period_buckets(start, end, period, tz, clip=True)
    assert clipped[0].start_ts == start.timestamp() and clipped[-1].end_ts == end.timestamp()
    assert sum(b.seconds for b in clipped) == pytest.approx(end.timestamp() - start.timestamp())


# ----------------------------------------------------------------- period grids


def grid_of(buckets: list[Bucket]) -> PeriodGrid:
    bounds = (*(int(b.start_ts) for b in buckets), int(buckets[-1].end_ts)) if buckets else ()
    return PeriodGrid(
        bounds,
        tuple(b.start.isoformat() for b in buckets),
        tuple(b.end.isoformat() for b in buckets),
    )


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Berlin",
        "Asia/Kathmandu",
        "America/Santiago",
        "America/Havana",
        "Pacific/Apia",
        "UTC",
    ],
)
@pytest.mark.parametrize("period", ["day", "week", "month", "year"])
def test_period_grid_is_period_buckets_as_plain_data(zone: str, period: Period) -> None:
    start, end = utc(2011, 3, 1, 7, 30), utc(2012, 11, 2, 5)
    grid = period_grid(start, end, period, zone)
    assert grid == grid_of(period_buckets(start, end, period, zone))
    assert len(grid) == len(grid.bounds) - 1
    assert period_grid(start.timestamp(), end.timestamp(), period, ZoneInfo(zone)) is grid


def test_period_grid_of_long_and_empty_ranges() -> None:
    start, end = utc(1990, 1, 1, 12), utc(2019, 12, 31, 12)  # too long to cache
    grid = period_grid(start, end, "month", BERLIN)
    assert grid == grid_of(period_buckets(start, end, "month", BERLIN)) and len(grid) == 360
    assert period_grid(start, end, "month", BERLIN) is not grid
    assert period_grid(end, start, "day", BERLIN) == PeriodGrid((), (), ())
    with pytest.raises(ValueError, match="unknown time zone"):
        period_grid(start, end, "day", "Mars/Olympus")


# ----------------------------------------------------------------- coverage


def test_expected_readings() -> None:
    assert expected_readings(900, 10) == 90
    assert expected_readings(23 * H, 10) == 8280
    assert expected_readings(-5, 10) == 0
    with pytest.raises(ValueError, match="positive"):
        expected_readings(900, 0)


def test_coverage() -> None:
    start, end = utc(2026, 11, 27), utc(2026, 11, 28)
    after = utc(2026, 12, 1)
    assert coverage(8640, start, end, 10, after) == 1.0
    assert coverage(4320, start, end, 10, after) == 0.5
    assert coverage(9000, start, end, 10, after) == 1.0  # duplicates / faster interval
    assert coverage(0, start, end, 10, after) == 0.0
    # a bucket partly in the future counts only the elapsed part
    assert coverage(2160, start, end, 10, utc(2026, 11, 27, 12)) == 0.5
    assert coverage(0, start, end, 10, utc(2026, 11, 26)) == 0.0
    assert coverage(10, start.timestamp(), end.timestamp(), 10, start.timestamp()) == 0.0
    # a 23-hour DST day expects 23 hours of readings
    (day,) = period_buckets(utc(2026, 3, 29, 5), utc(2026, 3, 29, 6), "day", BERLIN)
    assert coverage(8280, day.start, day.end, 10, after) == 1.0
    assert coverage(4140, day.start, day.end, 10, after) == 0.5
