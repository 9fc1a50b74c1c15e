"""The protocol's rules, each written once: the serial rule, the measuring ranges and the
limits every part of meterhub (decoder, store, web page, firmware) must agree on.

Anything that checks one of these imports it from here; the firmware (MicroPython, no
access to this package) quotes :data:`SERIAL_PATTERN` verbatim, and a test compares.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "FUTURE_TOLERANCE_S",
    "LEGACY_MAX_AGE_S",
    "MAX_BATCH_READINGS",
    "MAX_FIRMWARE_LEN",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "MAX_SERIAL_LEN",
    "MAX_TEXT_LEN",
    "MS_THRESHOLD",
    "OFFLINE_AFTER_INTERVALS",
    "RANGES",
    "RAW_KEEP_BYTES",
    "SERIAL_PATTERN",
    "SERIAL_RULE",
    "UNTIMED_SPACING_S",
    "WALL_CLOCK_MIN_TS",
    "is_valid_serial",
    "raw_text",
]

# ------------------------------------------------------------------------- serials

SERIAL_PATTERN: Final = r"[A-Za-z0-9._:\-]{1,64}"
"""The serial rule as a regular expression that must match the *whole* value (use
``fullmatch``; ``^...$`` with ``match`` would accept a trailing newline). The same text is
the admin page's HTML ``pattern`` attribute (browsers anchor it and compile it with the
``v`` flag, which is why the hyphen is escaped) and its JavaScript check."""
SERIAL_RULE: Final = "1-64 characters from A-Z a-z 0-9 . _ : -"
"""The serial rule in words, for error messages."""
MAX_SERIAL_LEN: Final = 64

_SERIAL_RE: Final = re.compile(SERIAL_PATTERN)
_SERIAL_MEMO_MAX: Final = 65536
serial_memo: dict[str, bool] = {}
"""Cache of :func:`is_valid_serial` (a pure function: no state leaks out). The decoder's
fast path reads it directly; only is_valid_serial writes it."""


DEFAULT_LATE_WINDOW_DAYS: Final = 30.0
"""Readings timed longer than this before they arrive are ``too_old`` (a setting:
``METERHUB_LATE_WINDOW_DAYS``); deliberate back-fill goes through ``meterhub import``."""


def is_valid_serial(value: str) -> bool:
    """True when ``value`` is an acceptable device serial (:data:`SERIAL_RULE`)."""
    if len(value) > MAX_SERIAL_LEN:
        return False
    ok = serial_memo.get(value)
    if ok is None:
        ok = _SERIAL_RE.fullmatch(value) is not None
        if len(serial_memo) >= _SERIAL_MEMO_MAX:
            serial_memo.clear()  # bounded; any caller may refill it
        serial_memo[value] = ok
    return ok


# -------------------------------------------------------------------------- ranges

RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "voltage": (80.0, 260.0, "V"),
    "current": (0.0, 100.0, "A"),
    "power": (0.0, 23000.0, "W"),
    "energy": (0.0, 9999.999, "kWh"),
    "frequency": (45.0, 65.0, "Hz"),
    "pf": (0.0, 1.0, ""),
}
"""PZEM-004T v3 (100 A model) measuring ranges, inclusive: field -> (low, high, unit).
Both decoder paths read them from here."""

# -------------------------------------------------------------------------- limits

MAX_PAYLOAD_BYTES: Final = 65536
"""Payloads longer than this are rejected ``oversized`` without being parsed."""
MAX_BATCH_READINGS: Final = 1000
"""A batch with more readings than this is rejected as a whole (``batch_too_large``)."""
RAW_KEEP_BYTES: Final = 2048
"""How much of a rejected payload is kept (decoded as UTF-8 with errors replaced)."""
FUTURE_TOLERANCE_S: Final = 300.0
"""A device time later than ``received_at`` plus this is rejected ``future_timestamp``."""
WALL_CLOCK_MIN_TS: Final = 1577836800.0
"""2020-01-01T00:00:00Z: device times before this are not wall-clock times."""
MS_THRESHOLD: Final = 1e11
"""Numeric timestamps at or above this are epoch milliseconds."""
LEGACY_MAX_AGE_S: Final = 7 * 86400.0
"""Oldest numeric timestamp believed from the C++ firmware (it has no backlog)."""
MAX_TEXT_LEN: Final = 64
"""Longest firmware_version / ip_address / command id / status state."""
MAX_FIRMWARE_LEN: Final = 32
"""Longest firmware_version kept on the device row."""
MAX_SEQ: Final = 2**63 - 1
"""``seq`` must fit a signed 64-bit column."""
UNTIMED_SPACING_S: Final = 0.001
"""Spacing given to batch readings that carry no device time."""
OFFLINE_AFTER_INTERVALS: Final = 3
"""A device silent for this many of its reading intervals counts as offline (the store's
sweep and the live feed both use it)."""


def raw_text(raw: bytes | bytearray | memoryview) -> str:
    """The first :data:`RAW_KEEP_BYTES` of a payload as text (bad UTF-8 replaced): what a
    dead letter keeps of a message."""
    return bytes(raw[:RAW_KEEP_BYTES]).decode("utf-8", "replace")
