"""Long-lived things the app's lifespan owns and hands to handlers, typed.

Shared by the API, the pages and the live feed (none of which imports another for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from meterhub.broker.url import BrokerTarget
from meterhub.config import Settings

if TYPE_CHECKING:  # the live parts import this module; only their types are needed here
    from meterhub.alerts.live import AlertFeed
    from meterhub.live.access import AccessRefresher
    from meterhub.live.feed import MqttLiveFeed
    from meterhub.live.hub import LiveHub

Publish = Callable[[BrokerTarget, str, bytes], None]
"""Sends one MQTT message: (broker, topic, payload)."""


@dataclass
class AppContext:
    """Everything a request handler may need beyond the request itself."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secret: str
    broker_target: BrokerTarget | None = None
    """The broker for the live feed and for commands; None: no live readings, and
    sending a command fails with 503."""
    mqtt_publish: Publish | None = None
    """Replaces the command publisher (tests without a broker); None: publish over MQTT."""
    live_hub: LiveHub | None = None
    """Set by the lifespan while the app runs (for /ws and /metrics)."""
    live_refresher: AccessRefresher | None = None
    live_feed: MqttLiveFeed | None = None
    alert_feed: AlertFeed | None = None
    """Set by the lifespan: passes alert changes to the live hub (for /ws)."""
