"""Parse the time parameters of the HTTP API (``from``, ``to``, ``tz``).

Accepted instants: ISO-8601 with ``Z`` or an offset (``2026-11-27T10:00:00Z``,
``2026-11-27T11:00+01:00``) or epoch seconds (``1795773600``, ``1795773600.5``). Where a
range bound allows it, a calendar date ``YYYY-MM-DD`` means that date in the request's
zone; as the end of a range the date is included (the bound is the next local midnight).
Ranges are half-open: ``from <= t < to``.

Every error is a ValueError whose message says what to send instead; the API layer turns
it into a 422. Results are aware datetimes in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, available_timezones

from meterhub.telemetry.periods import local_midnight

__all__ = ["parse_instant", "parse_range", "parse_range_bound", "parse_tz"]

MAX_EPOCH_S: Final = 1e11
"""Epoch values at or above this (the year 5138) are refused as probable milliseconds."""

_EPOCH_RE: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
# "...T10:00:00 01:00": a "+" decoded to a space by an un-encoded query string.
_LOST_PLUS_RE: Final = re.compile(r"(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)")
_EXAMPLE: Final = "2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00 or epoch seconds"


def parse_instant(value: str) -> datetime:
    """An ISO-8601 time with offset or Z, or epoch seconds, as an aware UTC datetime.

    A naive time is refused (``time '2026-01-01T00:00' has no offset; add Z or +01:00``).
    """
    text = value.strip()
    if not text:
        raise ValueError(f"time is empty; use {_EXAMPLE}")
    shown = _show(text)
    if len(text) > 64:
        raise ValueError(f"time {shown} is too long; use {_EXAMPLE}")
    if _EPOCH_RE.fullmatch(text):
        seconds = float(text)
        if abs(seconds) >= MAX_EPOCH_S:
            raise ValueError(
                f"time {shown} is too large for epoch seconds (milliseconds?); "
                "send seconds since 1970-01-01T00:00:00Z"
            )
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"time {shown} is out of range") from None
    if _DATE_RE.fullmatch(text):
        raise ValueError(f"time {shown} is a date; give a time such as {text}T00:00:00Z")
    lost_plus = _LOST_PLUS_RE.fullmatch(text)
    if lost_plus:
        text = f"{lost_plus.group(1)}+{lost_plus.group(2)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time {shown} is not ISO-8601 or epoch seconds; use {_EXAMPLE}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"time {shown} has no offset; add Z or +01:00")
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"time {shown} is out of range") from None


def parse_range_bound(value: str, tz: tzinfo | str, is_end: bool) -> datetime:
    """A range bound: anything :func:`parse_instant` takes, or a date in ``tz``.

    A date ``YYYY-MM-DD`` is that day's local midnight as a start, and the next local
    midnight as an end (so the day is included). Returns an aware UTC datetime.
    """
    text = value.strip()
    if _DATE_RE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"date {_show(text)} does not exist; use YYYY-MM-DD") from None
        zone = parse_tz(tz) if isinstance(tz, str) else tz
        try:
            if is_end:
                day += timedelta(days=1)
            return local_midnight(day, zone).astimezone(UTC)
        except (OverflowError, OSError):
            raise ValueError(f"date {_show(text)} is out of range") from None
    return parse_instant(text)


def parse_range(
    value_from: str, value_to: str, tz: tzinfo | str = UTC
) -> tuple[datetime, datetime]:
    """Both bounds of a half-open range (dates allowed, ``to`` day included); from < to."""
    start = parse_range_bound(value_from, tz, is_end=False)
    end = parse_range_bound(value_to, tz, is_end=True)
    if end <= start:
        raise ValueError(f"'to' ({end.isoformat()}) must be after 'from' ({start.isoformat()})")
    return start, end


def parse_tz(name: str) -> ZoneInfo:
    """An IANA time zone such as ``Europe/Berlin``; ValueError naming a near miss if any."""
    key = name.strip()
    if key in _zone_names():
        return ZoneInfo(key)
    hint = _suggest(key)
    shown = _show(key)
    if hint:
        raise ValueError(f"unknown time zone {shown}; did you mean {hint!r}?")
    raise ValueError(f"unknown time zone {shown}; use an IANA name such as Europe/Berlin or UTC")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=1)
def _zone_index() -> dict[str, str]:
    """Lower-cased full names and unique last parts (``berlin``) -> canonical name."""
    index: dict[str, str] = {}
    last_parts: dict[str, list[str]] = {}
    for zone in _zone_names():
        index[zone.lower()] = zone
        last_parts.setdefault(zone.rsplit("/", 1)[-1].lower(), []).append(zone)
    for part, zones in last_parts.items():
        if len(zones) == 1:
            index.setdefault(part, zones[0])
    return index


def _suggest(key: str) -> str | None:
    if not key or len(key) > 64:
        return None
    index = _zone_index()
    lowered = key.lower().replace(" ", "_")
    return index.get(lowered) or index.get(lowered.rsplit("/", 1)[-1])


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
