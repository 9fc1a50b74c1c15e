"""Daily housekeeping: raw-reading retention, the audit log's bound, expired sessions and
login attempts. The web server runs it once a day (and shortly after it starts);
`meterhub maintenance` runs it by hand or from cron."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import anyio
from fastapi import FastAPI
from sqlalchemy import delete

from meterhub.config import Settings
from meterhub.context import AppContext
from meterhub.db.engine import make_sessionmaker
from meterhub.db.models import ApiToken, UserSession
from meterhub.db.types import utcnow
from meterhub.security.throttle import LoginThrottle
from meterhub.services import audit, retention

log = logging.getLogger(__name__)
EVERY_S = 24 * 3600
FIRST_AFTER_S = 120  # not during start-up, when the demo history is being written


def run_once(cfg: Settings, engine: Any) -> dict[str, int]:
    """One housekeeping pass; returns what it removed."""
    sessions = make_sessionmaker(engine)
    done: dict[str, int] = {}
    if cfg.RETENTION_RAW_DAYS:
        done["readings"] = retention.delete_old_readings(engine, cfg.RETENTION_RAW_DAYS).deleted
    with sessions() as db:
        done["audit"] = audit.prune(db, cfg.AUDIT_MAX_ROWS)
        now = utcnow()
        ended = db.execute(delete(UserSession).where(UserSession.expires_at <= now))
        done["sessions"] = int(getattr(ended, "rowcount", 0) or 0)
        gone = db.execute(
            delete(ApiToken).where(ApiToken.expires_at.is_not(None), ApiToken.expires_at <= now)
        )
        done["tokens"] = int(getattr(gone, "rowcount", 0) or 0)
        db.commit()
    done["login_attempts"] = LoginThrottle(sessions).forget_expired()
    return done


async def start_daily(app: FastAPI) -> None:
    """Lifespan hook: run `run_once` daily in a worker thread."""
    ctx: AppContext = app.state.ctx

    async def loop() -> None:
        await asyncio.sleep(FIRST_AFTER_S)
        while True:
            try:
                done = await anyio.to_thread.run_sync(run_once, ctx.settings, ctx.engine)
                log.info("maintenance: %s", done)
            except Exception:  # a bad day must not end the loop
                log.exception("maintenance failed; next try in a day")
            await asyncio.sleep(EVERY_S)

    app.state.maintenance = asyncio.get_running_loop().create_task(loop())


async def stop_daily(app: FastAPI) -> None:
    """Lifespan hook: stop the daily task."""
    task = getattr(app.state, "maintenance", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
