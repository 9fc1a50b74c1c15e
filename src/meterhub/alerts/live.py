"""Alerts on the live feed: the web process follows the alerts table and hands every
change to the live hub, which sends `{"type":"alert", ...}` only to sockets that may see
the alert's device (the same rule as for readings).

The evaluator runs in its own process, so the database is the meeting point: every
POLL_S the web process reads alerts changed in the last TRAIL_S (``alerts.updated_at``
is indexed) and forwards those whose (id, state) it has not forwarded yet. The trailing
window covers transactions that commit after a later one (PostgreSQL) and clock skew
between processes; the remembered set is pruned with the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from meterhub.alerts.payload import alert_object
from meterhub.context import AppContext
from meterhub.db.models import Alert
from meterhub.db.types import utcnow
from meterhub.live.hub import LiveHub

log = logging.getLogger(__name__)

POLL_S: float = 1.0
TRAIL_S: float = 15.0


class AlertFeed:
    """Polls alert changes and publishes them to the hub."""

    def __init__(self, hub: LiveHub, sessions: sessionmaker[Session]) -> None:
        self.hub = hub
        self.sessions = sessions
        self.sent: dict[tuple[int, str], datetime] = {}
        self.since = utcnow()  # changes before the web process started are not news
        self.task: asyncio.Task[None] | None = None

    def _changes(self) -> list[dict[str, Any]]:
        now = utcnow()
        window = min(self.since, now) - timedelta(seconds=TRAIL_S)
        with self.sessions() as db:
            rows = list(
                db.scalars(
                    select(Alert).where(Alert.updated_at >= window).order_by(Alert.updated_at)
                )
            )
            out = []
            for alert in rows:
                key = (alert.id, alert.state)
                if key in self.sent:
                    continue
                self.sent[key] = now
                out.append({"type": "alert", **alert_object(alert)})
        self.since = now
        cutoff = now - timedelta(seconds=3 * TRAIL_S)
        self.sent = {k: t for k, t in self.sent.items() if t >= cutoff}
        return out

    def poll_once(self) -> int:
        """Read and publish once (blocking; tests call it directly)."""
        changes = self._changes()
        for message in changes:
            self.hub.publish_alert(message["serial"], message)
        return len(changes)

    async def _run(self) -> None:
        while True:
            try:
                changes = await asyncio.to_thread(self._changes)
                for message in changes:
                    self.hub.publish_alert(message["serial"], message)
            except Exception:
                log.exception("alert feed poll failed; retrying")
            await asyncio.sleep(POLL_S)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="alert-feed")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def start_alert_feed(app: FastAPI) -> None:
    """Start following alerts (after the live hub exists)."""
    ctx: AppContext = app.state.ctx
    if ctx.live_hub is not None:
        feed = AlertFeed(ctx.live_hub, ctx.sessions)
        feed.start()
        ctx.alert_feed = feed


async def stop_alert_feed(app: FastAPI) -> None:
    """Stop following alerts."""
    ctx: AppContext = app.state.ctx
    feed, ctx.alert_feed = ctx.alert_feed, None
    if feed is not None:
        await feed.stop()
