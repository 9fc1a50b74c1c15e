"""Start and stop the live feed in the app's lifespan (web/app.py start/stop hooks).

``start_live`` puts a :class:`LiveHub` in ``ctx.live_hub`` (for ``/ws`` and ``/metrics``),
starts the access refresher and, when ``ctx.broker_target`` is set, the MQTT feed
(``ctx.live_feed``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from meterhub.context import AppContext
from meterhub.live.access import AccessRefresher
from meterhub.live.feed import MqttLiveFeed
from meterhub.live.hub import LiveHub

log = logging.getLogger(__name__)


async def start_live(app: FastAPI) -> None:
    """Create the hub, the refresher and (with a broker target) the MQTT feed."""
    ctx: AppContext = app.state.ctx
    hub = LiveHub()
    refresher = AccessRefresher(hub, ctx.sessions)
    refresher.start()
    ctx.live_hub = hub
    ctx.live_refresher = refresher
    target = ctx.broker_target
    feed = None
    if target is not None:
        feed = MqttLiveFeed.from_target(hub, target)
        await feed.start()
    else:
        log.info("live: no broker target configured; /ws serves no readings")
    ctx.live_feed = feed


async def stop_live(app: FastAPI) -> None:
    """Stop the feed and the refresher, then close every live socket (1001)."""
    ctx: AppContext = app.state.ctx
    feed, ctx.live_feed = ctx.live_feed, None
    if feed is not None:
        await feed.stop()
    refresher, ctx.live_refresher = ctx.live_refresher, None
    if refresher is not None:
        await refresher.stop()
    hub, ctx.live_hub = ctx.live_hub, None
    if hub is not None:
        await hub.close_all()
