"""Deterministic, stateless pseudo-random numbers from integer keys.

The appliance schedule must be a pure function of (seed, appliance, time
slot), so a model sampled at any interval, or restarted, switches the same
appliances at the same moments. ``unit`` hashes its keys with SplitMix64.
"""

from __future__ import annotations

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_INV_2_53 = 1.0 / (1 << 53)


def mix64(value: int) -> int:
    """SplitMix64 finaliser: a well-spread 64-bit hash of ``value``."""
    z = (value + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def unit(*keys: int) -> float:
    """A float in [0, 1) determined by the integer keys."""
    h = 0
    for key in keys:
        h = mix64(h ^ (key & _MASK))
    return (h >> 11) * _INV_2_53


def string_key(text: str) -> int:
    """A stable 64-bit key for a string (Python's ``hash`` is salted per process)."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return h
