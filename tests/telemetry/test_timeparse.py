"""API time parameters: instants, range bounds with calendar dates, zone names."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterhub.timeparse import parse_instant, parse_range, parse_range_bound, parse_tz


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type, misc]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T10:00:00Z", utc(2026, 11, 27, 10)),
        ("2026-11-27T11:00:00+01:00", utc(2026, 11, 27, 10)),
        ("2026-11-27T15:45+05:45", utc(2026, 11, 27, 10)),
        ("2026-11-27 10:00:00.5Z", datetime(2026, 11, 27, 10, 0, 0, 500000, tzinfo=UTC)),
        ("1795773600", utc(2026, 11, 27, 10)),
        ("1795773600.25", datetime(2026, 11, 27, 10, 0, 0, 250000, tzinfo=UTC)),
        ("  1795773600 ", utc(2026, 11, 27, 10)),
        ("0", utc(1970, 1, 1)),
        # "+" turned into a space by an un-encoded query string
        ("2026-11-27T11:00:00 01:00", utc(2026, 11, 27, 10)),
    ],
)
def test_parse_instant(value: str, expected: datetime) -> None:
    parsed = parse_instant(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-01-01T00:00", "time '2026-01-01T00:00' has no offset; add Z or +01:00"),
        ("2026-01-01", "is a date"),
        ("", "time is empty"),
        ("yesterday", "not ISO-8601 or epoch seconds"),
        ("1795773600000", "milliseconds"),
        ("2026-02-30T00:00:00Z", "not ISO-8601"),
        ("1e9", "not ISO-8601"),
        ("x" * 100, "too long"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
    ],
)
def test_parse_instant_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_instant(value)
    assert message in str(info.value)


@given(st.text(max_size=40))
def test_parse_instant_only_raises_value_error(value: str) -> None:
    try:
        parsed = parse_instant(value)
    except ValueError as exc:
        assert str(exc)
    else:
        assert parsed.tzinfo is UTC


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)))
def test_iso_and_epoch_round_trip(naive: datetime) -> None:
    instant = naive.replace(tzinfo=UTC)
    assert parse_instant(instant.isoformat()) == instant
    assert parse_instant(instant.isoformat().replace("+00:00", "Z")) == instant
    assert parse_instant(repr(instant.timestamp())) == instant


def test_range_bound_dates_are_local_and_the_end_day_is_included() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_range_bound("2026-03-29", berlin, is_end=False) == utc(2026, 3, 28, 23)
    assert parse_range_bound("2026-03-29", berlin, is_end=True) == utc(2026, 3, 29, 22)
    assert parse_range_bound("2026-11-27", "Asia/Kathmandu", is_end=False) == (
        utc(2026, 11, 26, 18, 15)
    )
    assert parse_range_bound("2026-11-27T10:00:00Z", berlin, is_end=True) == (utc(2026, 11, 27, 10))
    with pytest.raises(ValueError, match="does not exist"):
        parse_range_bound("2026-02-30", berlin, is_end=False)
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_range_bound("2026-02-03", "Berlin/Europe", is_end=False)


def test_parse_range() -> None:
    assert parse_range("2026-11-01", "2026-11-30", "Asia/Kolkata") == (
        utc(2026, 10, 31, 18, 30),
        utc(2026, 11, 30, 18, 30),
    )
    assert parse_range("2026-11-27", "2026-11-27") == (utc(2026, 11, 27), utc(2026, 11, 28))
    with pytest.raises(ValueError, match="must be after 'from'"):
        parse_range("2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z")


def test_parse_tz() -> None:
    assert parse_tz("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert parse_tz(" Asia/Kathmandu ") == ZoneInfo("Asia/Kathmandu")
    assert parse_tz("UTC") == ZoneInfo("UTC")
    with pytest.raises(ValueError, match="did you mean 'Europe/Berlin'"):
        parse_tz("europe/berlin")
    with pytest.raises(ValueError, match="did you mean 'Asia/Ho_Chi_Minh'"):
        parse_tz("Ho Chi Minh")
    for bad in ("", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe"):
        with pytest.raises(ValueError, match="unknown time zone"):
            parse_tz(bad)
