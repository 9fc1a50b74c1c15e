"""Live feed: the web process's MQTT subscription, the fan-out hub and ``/ws``."""

from meterhub.live.hub import FLUSH_INTERVAL_S, LiveHub
from meterhub.live.lifespan import start_live, stop_live

__all__ = ["FLUSH_INTERVAL_S", "LiveHub", "start_live", "stop_live"]
