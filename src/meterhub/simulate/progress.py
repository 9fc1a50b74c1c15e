"""One updating terminal line with the simulator's rates and totals."""

from __future__ import annotations

import time
from typing import TextIO

#: Seconds between progress updates on a terminal, and between lines in a log.
PROGRESS_INTERVAL_S = 2.0
LOG_INTERVAL_S = 30.0


class Progress:
    """Prints ``published N/s, total, queued`` on one line (a new line when not a tty)."""

    def __init__(self, stream: TextIO, meters: int) -> None:
        """Write to ``stream``; ``meters`` is shown in each line."""
        self._stream = stream
        self._meters = meters
        self._tty = stream.isatty()
        self._every = PROGRESS_INTERVAL_S if self._tty else LOG_INTERVAL_S
        self._last_time = time.monotonic()
        self._last_total = 0
        self._printed = False

    def update(self, total: int, queued: int, in_flight: int, *, force: bool = False) -> None:
        """Print a line if the interval has passed (or ``force``)."""
        now = time.monotonic()
        elapsed = now - self._last_time
        if not force and elapsed < self._every:
            return
        rate = (total - self._last_total) / elapsed if elapsed > 0 else 0.0
        line = (
            f"meters {self._meters}  published {rate:,.0f}/s  total {total:,}  "
            f"queued {queued:,} (outage) + {in_flight:,} (in flight)"
        )
        if self._tty:
            self._stream.write(f"\r{line}\x1b[K")
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
        self._printed = True
        self._last_time, self._last_total = now, total

    def close(self) -> None:
        """End the updating line."""
        if self._tty and self._printed:
            self._stream.write("\n")
            self._stream.flush()
