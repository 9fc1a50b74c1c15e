"""Field checks of the decoder's reference path: each takes one JSON value and returns
it converted, or raises :class:`~meterhub.protocol.rejects.Invalid` naming what is wrong.
The time rules are described in :mod:`meterhub.protocol.readings`."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from meterhub.protocol.rejects import Invalid, describe, short
from meterhub.protocol.rules import (
    FUTURE_TOLERANCE_S,
    LEGACY_MAX_AGE_S,
    MAX_TEXT_LEN,
    MS_THRESHOLD,
    SERIAL_RULE,
    WALL_CLOCK_MIN_TS,
    is_valid_serial,
)

__all__ = ["check_serial", "iso_seconds", "known_serial", "number", "text", "timestamp"]


def number(value: Any, name: str, low: float, high: float, unit: str) -> float:
    """A finite JSON number within [low, high] (bool and numeric strings are refused)."""
    kind = type(value)
    if kind is float or kind is int:
        if low <= value <= high:  # also refuses NaN and infinities
            return float(value)
        unit_part = f" {unit}" if unit else ""
        raise Invalid(
            "out_of_range", name, f"{name} {value!r}{unit_part} out of range {low:.10g}-{high:.10g}"
        )
    if value is None:
        raise Invalid("missing_field", name, f"{name} is missing")
    raise Invalid("wrong_type", name, f"{name} must be a number, got {describe(value)}")


def text(value: Any, name: str) -> str | None:
    """An optional short string (empty string counts as absent)."""
    if value is None:
        return None
    if type(value) is not str:
        raise Invalid("wrong_type", name, f"{name} must be a string, got {describe(value)}")
    if len(value) > MAX_TEXT_LEN:
        raise Invalid(
            "out_of_range", name, f"{name} is {len(value)} characters, more than {MAX_TEXT_LEN}"
        )
    return value or None


def check_serial(value: Any) -> str:
    """A present serial_number that must satisfy the serial rule."""
    if type(value) is not str:
        raise Invalid(
            "bad_serial", "serial_number", f"serial_number must be a string, got {describe(value)}"
        )
    if not is_valid_serial(value):
        raise Invalid(
            "bad_serial",
            "serial_number",
            f"serial_number {short(value)} is not valid ({SERIAL_RULE})",
        )
    return value


def known_serial(obj: dict[str, Any], base_serial: str | None) -> str | None:
    """The serial a rejected reading belongs to, when it is known and valid."""
    own = obj.get("serial_number")
    if own is None:
        return base_serial
    return own if type(own) is str and is_valid_serial(own) else None


def timestamp(value: Any, received_at: float, legacy: bool) -> tuple[float, bool]:
    """The reading's time as (epoch seconds, came from the device); see the module doc."""
    if value is None:
        return received_at, False
    kind = type(value)
    if kind is int or kind is float:
        if not math.isfinite(value):
            raise Invalid("bad_timestamp", "timestamp", f"timestamp {value!r} is not finite")
        ts = float(value)
        if ts >= MS_THRESHOLD:
            ts /= 1000.0
        if legacy and not (
            received_at - LEGACY_MAX_AGE_S <= ts <= received_at + FUTURE_TOLERANCE_S
        ):
            return received_at, False
    elif kind is str:
        ts = iso_seconds(value)
    else:
        raise Invalid(
            "wrong_type",
            "timestamp",
            f"timestamp must be ISO-8601 or epoch seconds, got {describe(value)}",
        )
    if ts < WALL_CLOCK_MIN_TS:
        return received_at, False
    if ts > received_at + FUTURE_TOLERANCE_S:
        ahead = ts - received_at
        raise Invalid(
            "future_timestamp",
            "timestamp",
            f"timestamp {short(value)} is {ahead:.0f} s after receipt "
            f"(more than {FUTURE_TOLERANCE_S:.0f} s in the future)",
        )
    return ts, True


def iso_seconds(value: str) -> float:
    """Epoch seconds of an ISO-8601 string that carries an offset or Z."""
    if len(value) > 40:
        raise Invalid(
            "bad_timestamp", "timestamp", f"timestamp {short(value)} is not an ISO-8601 time"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(
            "bad_timestamp",
            "timestamp",
            f"timestamp {short(value)} is not ISO-8601 or epoch seconds",
        ) from None
    if parsed.tzinfo is None:
        raise Invalid(
            "bad_timestamp", "timestamp", f"timestamp {short(value)} has no offset; add Z (UTC)"
        )
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError, OSError):
        raise Invalid(
            "bad_timestamp", "timestamp", f"timestamp {short(value)} is out of range"
        ) from None
