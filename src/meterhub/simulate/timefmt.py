"""Fast UTC ISO-8601 formatting for reading timestamps (``2026-11-27T10:00:00Z``)."""

from __future__ import annotations

import time


class IsoFormatter:
    """Format epoch seconds as ``YYYY-MM-DDTHH:MM:SS[.mmm]Z``, caching the date part.

    Readings come in time order, so the date changes rarely; formatting only
    the time of day keeps history generation fast.
    """

    def __init__(self) -> None:
        """Start with an empty cache."""
        self._day = -1
        self._prefix = ""
        self._midnight = 0

    def __call__(self, ts: float) -> str:
        """Return the ISO-8601 UTC string for ``ts`` (milliseconds only when non-zero)."""
        secs = int(ts)
        ms = 0 if secs == ts else round((ts - secs) * 1000)
        if ms >= 1000:
            secs, ms = secs + 1, 0
        day = secs // 86400
        if day != self._day:
            self._day = day
            self._prefix = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
            self._midnight = day * 86400
        rest = secs - self._midnight
        hour = rest // 3600
        rest -= hour * 3600
        minute = rest // 60
        sec = rest - minute * 60
        if ms:
            return f"{self._prefix}{hour:02d}:{minute:02d}:{sec:02d}.{ms:03d}Z"
        return f"{self._prefix}{hour:02d}:{minute:02d}:{sec:02d}Z"
