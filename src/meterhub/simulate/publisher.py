"""MQTT connections of the simulator (gmqtt, MQTT 3.1.1).

Up to ``DEDICATED_LIMIT`` meters, each meter has its own connection with
its own client id (``sim-<serial>``) and its own last will (``offline`` on
``meter/<id>/status``, retained), exactly like a real device. Above that,
meters share connections (``METERS_PER_CONNECTION`` each): one connection per
device would cost the embedded broker more than the data (2,000 idle amqtt
connections take 55% of a core). Shared connections carry no per-meter will;
every meter still has its own serial, data topic and retained status, and a
clean stop publishes ``offline`` for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from gmqtt import Client, Message
from gmqtt.mqtt.constants import UNLIMITED_RECONNECTS, MQTTv311
from gmqtt.storage import PersistentStorage

from meterhub.broker.url import BrokerTarget

DEDICATED_LIMIT = 200
METERS_PER_CONNECTION = 250
#: Unacknowledged QoS 1 messages per connection before publishing waits.
MAX_IN_FLIGHT = 1000
KEEPALIVE_S = 30
RECONNECT_DELAY_S = 2
CONNECT_TIMEOUT_S = 10.0

logging.getLogger("gmqtt").setLevel(logging.WARNING)


class _CountingStorage(PersistentStorage):  # type: ignore[misc]
    """gmqtt's in-flight store, also tracking its message ids for back-pressure."""

    def __init__(self) -> None:
        super().__init__()
        self.mids: set[int] = set()
        self.room = asyncio.Event()
        self.room.set()

    @property
    def count(self) -> int:
        return len(self.mids)

    def push_message(self, mid: int, raw_package: bytes) -> None:
        super().push_message(mid, raw_package)
        self.mids.add(mid)
        if len(self.mids) >= MAX_IN_FLIGHT:
            self.room.clear()

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self.mids.discard(mid)
        if len(self.mids) < MAX_IN_FLIGHT:
            self.room.set()

    def clear(self) -> None:
        super().clear()
        self.mids.clear()
        self.room.set()


def status_topic(serial: str) -> str:
    """``meter/<id>/status``."""
    return f"meter/{serial}/status"


def data_topic(serial: str) -> str:
    """``meter/<id>/data``."""
    return f"meter/{serial}/data"


class _Connection:
    def __init__(self, client_id: str, will_serial: str | None) -> None:
        self.storage = _CountingStorage()
        will = (
            Message(status_topic(will_serial), b"offline", qos=1, retain=True)
            if will_serial
            else None
        )
        self.client = Client(client_id, will_message=will, persistent_storage=self.storage)
        self.client.set_config(
            {"reconnect_retries": UNLIMITED_RECONNECTS, "reconnect_delay": RECONNECT_DELAY_S}
        )


class Publisher:
    """Publishes readings and status for a set of meters over a few connections."""

    def __init__(
        self,
        target: BrokerTarget,
        serials: list[str],
        client_prefix: str = "sim",
        accounts: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        """Plan connections for ``serials`` (connect with ``start``). With ``accounts``
        (serial -> MQTT user name and password), each meter logs in with its own account
        and client id ``meter-<user>``, like a real one, so each needs its own connection."""
        self.target = target
        self.accounts = dict(accounts or {})
        dedicated = len(serials) <= DEDICATED_LIMIT or bool(self.accounts)
        self._connections: list[_Connection] = []
        self._route: dict[str, _Connection] = {}
        self._logins: dict[int, tuple[str, str]] = {}
        if dedicated:
            for serial in serials:
                account = self.accounts.get(serial)
                client_id = f"meter-{account[0]}" if account else f"{client_prefix}-{serial}"
                conn = _Connection(client_id, serial)
                if account:
                    self._logins[id(conn)] = account
                self._connections.append(conn)
                self._route[serial] = conn
        else:
            count = -(-len(serials) // METERS_PER_CONNECTION)
            self._connections = [
                _Connection(f"{client_prefix}-shared-{i}", None) for i in range(count)
            ]
            for index, serial in enumerate(serials):
                self._route[serial] = self._connections[index % count]
        self.published = 0

    @property
    def connections(self) -> int:
        """Number of MQTT connections."""
        return len(self._connections)

    @property
    def in_flight(self) -> int:
        """QoS 1 messages sent but not yet acknowledged by the broker."""
        return sum(conn.storage.count for conn in self._connections)

    async def start(self) -> None:
        """Connect every connection (MQTT 3.1.1); raise ConnectionError with one line on failure."""
        target = self.target
        for conn in self._connections:
            login = self._logins.get(id(conn))
            if login is not None:
                conn.client.set_auth_credentials(*login)
            elif target.username:
                conn.client.set_auth_credentials(target.username, target.password)
            try:
                await asyncio.wait_for(
                    conn.client.connect(
                        target.host,
                        target.port,
                        ssl=target.tls,
                        keepalive=KEEPALIVE_S,
                        version=MQTTv311,
                    ),
                    CONNECT_TIMEOUT_S,
                )
            except (OSError, TimeoutError, Exception) as exc:
                await self.stop(drain_timeout=0)
                reason = str(exc) or type(exc).__name__
                raise ConnectionError(
                    f"cannot connect to MQTT broker {target.display_url}: {reason}"
                ) from None

    async def publish_json(self, serial: str, payload: dict[str, Any]) -> None:
        """Publish a reading or batch on ``meter/<serial>/data`` at QoS 1 (waits if congested)."""
        conn = self._route[serial]
        if not conn.storage.room.is_set():
            await conn.storage.room.wait()
        conn.client.publish(data_topic(serial), orjson.dumps(payload), qos=1)
        self.published += 1

    def publish_status(self, serial: str, status: dict[str, Any] | str) -> None:
        """Publish a retained status (JSON object, or ``online``/``offline``) at QoS 1."""
        body = status.encode() if isinstance(status, str) else orjson.dumps(status)
        self._route[serial].client.publish(status_topic(serial), body, qos=1, retain=True)

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Wait up to ``drain_timeout`` s for acknowledgements, then disconnect cleanly."""
        if drain_timeout > 0:
            drains = [conn.storage.wait_empty() for conn in self._connections]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*drains), drain_timeout)
        for conn in self._connections:
            if conn.client.is_connected:
                await conn.client.disconnect()
