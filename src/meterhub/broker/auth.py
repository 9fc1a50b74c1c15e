"""amqtt plugin that admits every client without marking it anonymous.

amqtt's own ``AnonymousAuthPlugin`` flags *every* session as anonymous when
``allow_anonymous`` is on, and amqtt then drops disconnected anonymous
sessions and never queues QoS 1 messages for them. That would make the
ingest's persistent session (clean_session=False) lose every reading
published while it reconnects. This plugin admits all clients but keeps
their sessions normal, so persistent sessions queue QoS 1 messages as the
MQTT 3.1.1 specification asks.

Anyone who can reach the port may publish and subscribe: bind the embedded
broker to 127.0.0.1 or a trusted network, or use Mosquitto with a password
file and ACL in production (see deploy/mosquitto/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.plugins.base import BaseAuthPlugin


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept every CONNECT; keep sessions non-anonymous so QoS 1 queues work."""

    async def authenticate(self, *, session: Any) -> bool:
        """Admit the client (credentials, if any, are not checked)."""
        return True

    @dataclass
    class Config:
        """No options."""
