"""MQTT connections of the simulator (aiomqtt, i.e. paho-mqtt on the asyncio loop; 3.1.1).

Up to ``DEDICATED_LIMIT`` meters, each meter has its own connection with
its own client id (``sim-<serial>``) and its own last will (``offline`` on
``meter/<id>/status``, retained), exactly like a real device. Above that,
meters share connections (``METERS_PER_CONNECTION`` each): one connection per
device would cost the embedded broker more than the data (2,000 idle amqtt
connections take 55% of a core). Shared connections carry no per-meter will;
every meter still has its own serial, data topic and retained status, and a
clean stop publishes ``offline`` for each.

A connection lost mid-run reconnects (jittered back-off up to RECONNECT_MAX_S); while it
is down, publishing waits, like a meter's flash queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

import orjson

from meterhub.broker.url import BrokerTarget
from meterhub.mqtt_client import aiomqtt
from meterhub.mqtt_tls import client_tls_context

DEDICATED_LIMIT: Final = 200
METERS_PER_CONNECTION: Final = 250
MAX_IN_FLIGHT: Final = 1000
"""Unacknowledged QoS 1 messages per connection before publishing waits."""
KEEPALIVE_S: Final = 30
RECONNECT_MIN_S: Final = 0.5
RECONNECT_MAX_S: Final = 10.0
CONNECT_TIMEOUT_S: Final = 10.0

log = logging.getLogger(__name__)
_client_log = logging.getLogger(__name__ + ".client")
_client_log.setLevel(logging.ERROR)  # paho's chatter


def status_topic(serial: str) -> str:
    """``meter/<id>/status``."""
    return f"meter/{serial}/status"


def data_topic(serial: str) -> str:
    """``meter/<id>/data``."""
    return f"meter/{serial}/data"


class _Connection:
    """One MQTT connection: in-flight accounting for back-pressure, and reconnects."""

    def __init__(self, target: BrokerTarget, client_id: str, will_serial: str | None) -> None:
        will = (
            aiomqtt.Will(status_topic(will_serial), b"offline", qos=1, retain=True)
            if will_serial
            else None
        )
        self.client = aiomqtt.Client(
            target.host,
            target.port,
            username=target.username or None,
            password=target.password if target.username else None,
            identifier=client_id,
            will=will,
            clean_session=True,
            protocol=aiomqtt.ProtocolVersion.V311,
            keepalive=KEEPALIVE_S,
            timeout=CONNECT_TIMEOUT_S,
            max_inflight_messages=MAX_IN_FLIGHT,
            tls_context=client_tls_context(target.ca_file) if target.tls else None,
            logger=_client_log,
        )
        self.client_id = client_id
        self.up = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.count = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconnect: asyncio.Task[None] | None = None
        self.closing = False

    async def connect(self) -> None:
        await self.client.__aenter__()
        self.up.set()

    def publish(self, topic: str, body: bytes, retain: bool = False) -> None:
        """Send at QoS 1 in the background; ``count`` holds it until the broker's PUBACK."""
        self.count += 1
        if self.count >= MAX_IN_FLIGHT:
            self.room.clear()
        task = asyncio.get_running_loop().create_task(self._send(topic, body, retain))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, topic: str, body: bytes, retain: bool) -> None:
        try:
            while True:
                await self.up.wait()
                try:
                    await self.client.publish(topic, body, qos=1, retain=retain)
                    return
                except aiomqtt.MqttError:
                    if self.closing:
                        return
                    self._lost()
        finally:
            self.count -= 1
            if self.count < MAX_IN_FLIGHT:
                self.room.set()

    def _lost(self) -> None:
        if self.up.is_set() and self._reconnect is None:
            self.up.clear()
            log.warning("simulator: connection %s lost; reconnecting", self.client_id)
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = RECONNECT_MIN_S
        try:
            with contextlib.suppress(Exception):
                await self.client.__aexit__(None, None, None)
            while not self.closing:
                try:
                    await self.client.__aenter__()
                except aiomqtt.MqttError:
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    continue
                self.up.set()
                return
        finally:
            self._reconnect = None

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self.closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        for task in list(self._tasks):
            task.cancel()
        if self.up.is_set():
            self.up.clear()
            with contextlib.suppress(Exception):
                await self.client.__aexit__(None, None, None)


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
        if dedicated:
            for serial in serials:
                account = self.accounts.get(serial)
                client_id = f"meter-{account[0]}" if account else f"{client_prefix}-{serial}"
                login = (
                    replace(target, username=account[0], password=account[1]) if account else target
                )
                conn = _Connection(login, client_id, serial)
                self._connections.append(conn)
                self._route[serial] = conn
        else:
            count = -(-len(serials) // METERS_PER_CONNECTION)
            self._connections = [
                _Connection(target, f"{client_prefix}-shared-{i}", None) for i in range(count)
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
        return sum(conn.count for conn in self._connections)

    async def start(self) -> None:
        """Connect every connection (MQTT 3.1.1); raise ConnectionError with one line on failure."""
        for conn in self._connections:
            try:
                await conn.connect()
            except (aiomqtt.MqttError, OSError) as exc:
                await self.stop(drain_timeout=0)
                reason = str(exc) or type(exc).__name__
                raise ConnectionError(
                    f"cannot connect to MQTT broker {self.target.display_url}: {reason}"
                ) from None

    async def publish_json(self, serial: str, payload: dict[str, Any]) -> None:
        """Publish a reading or batch on ``meter/<serial>/data`` at QoS 1 (waits if congested)."""
        conn = self._route[serial]
        if not conn.room.is_set():
            await conn.room.wait()
        conn.publish(data_topic(serial), orjson.dumps(payload))
        self.published += 1

    def publish_status(self, serial: str, status: dict[str, Any] | str) -> None:
        """Publish a retained status (JSON object, or ``online``/``offline``) at QoS 1."""
        body = status.encode() if isinstance(status, str) else orjson.dumps(status)
        self._route[serial].publish(status_topic(serial), body, retain=True)

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Wait up to ``drain_timeout`` s for acknowledgements, then disconnect cleanly."""
        if drain_timeout > 0:
            drains = [conn.drain() for conn in self._connections]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*drains), drain_timeout)
        for conn in self._connections:
            await conn.close()
