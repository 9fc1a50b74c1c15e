"""What the simulator needs from a meter model (synthetic or replayed)."""

from __future__ import annotations

from typing import Any, Protocol


class ReadingSource(Protocol):
    """A stateful producer of v1 readings for one meter, sampled in time order."""

    serial: str
    seq: int
    energy_kwh: float
    ip_address: str
    firmware_version: str

    def sample(self, ts: float) -> dict[str, Any]:
        """Advance to epoch seconds ``ts`` and return the v1 reading there."""
        ...

    def sample_grid(self, t0: float, step: float, n: int) -> list[dict[str, Any]]:
        """Advance through ``t0 + i * step`` for i in range(n); return the readings."""
        ...
