"""Retention of raw readings (RETENTION_RAW_DAYS) and the daily housekeeping around it.

Raw readings older than the retention are deleted only where their 15-minute rollup row
exists (the hourly and daily rollups are built from it in the same transaction), so every
summary and long chart stays exact. Each device keeps its newest reading before the cut:
the next reading's consumption is the counter delta from it. Charts of a deleted range are
drawn from the rollups (15-minute resolution) instead of raw points.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, exists, func, select

from meterhub.db.models import Reading, Rollup15m

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
QUARTER_MS = 900_000


@dataclass
class RetentionResult:
    deleted: int = 0
    devices: int = 0


def delete_old_readings(engine: Engine, days: int, now_s: float | None = None) -> RetentionResult:
    """Delete raw readings older than `days` whose rollups are complete; one day of one
    device per transaction, so ingest is never blocked for long."""
    cutoff = int(((now_s if now_s is not None else time.time()) - days * 86400) * 1000)
    result = RetentionResult()
    with engine.connect() as conn:
        devices = conn.execute(
            select(Reading.device_id, func.min(Reading.ts), func.max(Reading.ts))
            .where(Reading.ts < cutoff)
            .group_by(Reading.device_id)
        ).all()
    for device_id, oldest, keep in devices:
        # `keep` (the newest reading before the cut) stays: later deltas start from it.
        result.devices += 1
        start = oldest
        while start < keep:
            end = min(start + DAY_MS, keep)
            with engine.begin() as conn:
                res = conn.execute(
                    delete(Reading).where(
                        Reading.device_id == device_id,
                        Reading.ts >= start,
                        Reading.ts < end,
                        exists().where(
                            and_(
                                Rollup15m.device_id == Reading.device_id,
                                Rollup15m.bucket == (Reading.ts // QUARTER_MS) * 900,
                            )
                        ),
                    )
                )
                result.deleted += int(res.rowcount or 0)
            start = end
    if result.deleted:
        log.info(
            "retention: deleted %d raw readings older than %d days (%d devices)",
            result.deleted,
            days,
            result.devices,
        )
    return result
