"""Simulated network outages with store-and-forward, as the firmware does it.

Each interval a meter that is online starts an outage with probability
``probability``, lasting a random number of intervals. During the outage its
readings are queued (bounded: the oldest are dropped and counted); when it
ends they are sent first, in order, as batch messages
``{"serial_number": ..., "readings": [...]}``, so ``seq`` has no gaps.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

#: Outage length, in reading intervals.
OUTAGE_MIN_INTERVALS = 2
OUTAGE_MAX_INTERVALS = 30
#: Readings per batch message when flushing the backlog.
BATCH_SIZE = 100
#: Readings a meter keeps during an outage before dropping the oldest.
QUEUE_LIMIT = 10_000


class OutageState:
    """Outage bookkeeping for one meter (pure: no I/O)."""

    def __init__(self, probability: float, rng: random.Random) -> None:
        """Start online; ``rng`` decides when outages start and how long they last."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"outage probability must be between 0 and 1, not {probability}")
        self.probability = probability
        self._rng = rng
        self._remaining = 0
        self.queue: deque[dict[str, Any]] = deque()
        self.outages = 0
        self.dropped = 0

    @property
    def offline(self) -> bool:
        """True while the meter is in an outage."""
        return self._remaining > 0

    def handle(self, reading: dict[str, Any]) -> list[dict[str, Any]]:
        """Take this interval's reading; return the messages to publish now, in order.

        Returns [] during an outage; after one, the batch messages followed by
        the reading itself.
        """
        if self._remaining == 0 and self.probability and self._rng.random() < self.probability:
            self._remaining = self._rng.randint(OUTAGE_MIN_INTERVALS, OUTAGE_MAX_INTERVALS)
            self.outages += 1
        if self._remaining > 0:
            self._remaining -= 1
            if len(self.queue) >= QUEUE_LIMIT:
                self.queue.popleft()
                self.dropped += 1
            self.queue.append(reading)
            return []
        messages = self.flush(str(reading.get("serial_number", "")))
        messages.append(reading)
        return messages

    def flush(self, serial: str) -> list[dict[str, Any]]:
        """Empty the queue into batch messages of at most ``BATCH_SIZE`` readings."""
        messages: list[dict[str, Any]] = []
        while self.queue:
            count = min(BATCH_SIZE, len(self.queue))
            batch = [self.queue.popleft() for _ in range(count)]
            messages.append({"serial_number": serial, "readings": batch})
        return messages
