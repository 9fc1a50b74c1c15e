"""Generate past readings fast, for ``--backfill`` and ``meterhub run --demo``.

``iter_history`` yields chunks of v1 reading dicts (about ``chunk_size`` each,
all meters interleaved in time) from the same models the live simulator
uses, so a live run can continue the models where the history ended: the
energy counter and ``seq`` carry on without a jump.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

from meterhub.simulate.model import MeterModel
from meterhub.simulate.noise import mix64
from meterhub.simulate.source import ReadingSource

DEFAULT_CHUNK = 1000
#: History interval for demo backfill; coarser than live readings to stay quick.
DEFAULT_HISTORY_INTERVAL_S = 60.0


def make_serials(count: int, seed: int = 0) -> list[str]:
    """Return ``count`` distinct PZEM-style serials (``PZEM-1A2B3C``), stable for a seed."""
    serials: list[str] = []
    seen: set[str] = set()
    salt = 0
    while len(serials) < count:
        serial = f"PZEM-{mix64(seed * 1_000_003 + len(serials) + salt) & 0xFFFFFF:06X}"
        if serial in seen:
            salt += 7919
            continue
        seen.add(serial)
        serials.append(serial)
    return serials


def build_models(
    meters: Sequence[str], profile: str = "household", seed: int = 0, **options: Any
) -> list[MeterModel]:
    """One ``MeterModel`` per serial, sharing profile and seed (options go to MeterModel)."""
    return [MeterModel(serial, profile, seed, **options) for serial in meters]


def iter_model_history(
    models: Sequence[ReadingSource],
    start_ts: float,
    end_ts: float,
    interval: float = DEFAULT_HISTORY_INTERVAL_S,
    chunk_size: int = DEFAULT_CHUNK,
) -> Iterator[list[dict[str, Any]]]:
    """Advance ``models`` over ``start_ts <= t < end_ts`` in steps of ``interval``.

    Yields chunks of readings; each chunk holds one time block for every meter.
    """
    if interval <= 0:
        raise ValueError(f"history interval must be positive, not {interval}")
    if not models or end_ts <= start_ts:
        return
    total = math.ceil((end_ts - start_ts) / interval)
    block = max(1, chunk_size // len(models))
    for first in range(0, total, block):
        count = min(block, total - first)
        t0 = start_ts + first * interval
        chunk: list[dict[str, Any]] = []
        for model in models:
            chunk.extend(model.sample_grid(t0, interval, count))
        yield chunk


def iter_history(
    meters: Sequence[str],
    profile: str = "household",
    days: float = 30.0,
    interval: float = DEFAULT_HISTORY_INTERVAL_S,
    end_ts: float | None = None,
    seed: int = 0,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    iso_timestamps: bool = True,
) -> Iterator[list[dict[str, Any]]]:
    """Readings for ``meters`` over the ``days`` before ``end_ts`` (default now), in chunks.

    Timestamps are aligned to ``interval`` and stop before ``end_ts``; with
    ``iso_timestamps=False`` they are epoch seconds (valid v1, ~40% faster).
    """
    end = time.time() if end_ts is None else end_ts
    start = math.floor((end - days * 86400.0) / interval) * interval
    models = build_models(meters, profile, seed, iso_timestamps=iso_timestamps)
    yield from iter_model_history(models, start, end, interval, chunk_size)


def history(
    serial: str,
    profile: str,
    start_ts: float,
    end_ts: float,
    interval: float,
    seed: int = 0,
) -> Iterator[dict[str, Any]]:
    """Readings of one meter for ``start_ts <= t < end_ts`` every ``interval`` seconds."""
    for chunk in iter_model_history(
        [MeterModel(serial, profile, seed)], start_ts, end_ts, interval
    ):
        yield from chunk
