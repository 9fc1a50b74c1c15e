"""The web process's own MQTT subscription, feeding the live hub.

Ingest (the database writer) runs in its own process; the web process subscribes by
itself (clean session, QoS 0, ``meter/+/data`` and ``meter/+/status``), decodes with the
same pure decoder and hands results to the hub. This keeps the ingest hot path free of
web work and gives the shortest publish-to-browser path. QoS 0 is right here: a browser
wants the latest value; a lost live message is replaced by the next one.

The client is aiomqtt (paho-mqtt's engine on the asyncio loop: no thread of its own).
It never crashes the web process: when the broker is away it retries with jittered
exponential back-off (RECONNECT_MIN_S .. RECONNECT_MAX_S) and logs once per outage; every
attempt is a fresh clean-session client.

Silence: a device whose last reading is older than OFFLINE_AFTER_INTERVALS x its interval
(DEFAULT_INTERVAL_S unless a status message said ``interval_s``) gets a ``status offline``
message. The ingest process records the same transition in the database; this only tells
browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final, Protocol

from meterhub.live.hub import LiveHub, reading_message
from meterhub.mqtt_client import aiomqtt
from meterhub.mqtt_tls import client_tls_context
from meterhub.protocol.readings import decode_data
from meterhub.protocol.rules import OFFLINE_AFTER_INTERVALS
from meterhub.protocol.status import StatusUpdate, decode_status

log = logging.getLogger(__name__)

TOPICS: Final = ("meter/+/data", "meter/+/status")
RECONNECT_MIN_S: float = 0.5
RECONNECT_MAX_S: float = 30.0
CONNECT_TIMEOUT_S: float = 10.0
KEEPALIVE_S: int = 30
SWEEP_INTERVAL_S: float = 1.0
"""How often silent devices are looked for."""
DEFAULT_INTERVAL_S: float = 10.0
"""A device's reading interval unless its status message says otherwise."""
MAX_TRACKED: Final = 100_000
"""Most devices tracked for silence (bounds memory against a flood of made-up serials)."""


class BrokerTargetLike(Protocol):
    """What :meth:`MqttLiveFeed.from_target` reads (meterhub.broker.url.BrokerTarget fits)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def tls(self) -> bool: ...
    @property
    def ca_file(self) -> str | None: ...


@dataclass(slots=True)
class _Track:
    last_reading: float  # monotonic
    last_ts: float  # newest reading time published (epoch s)
    interval_s: float


_client_log = logging.getLogger(__name__ + ".client")
_client_log.setLevel(logging.ERROR)  # paho's chatter; the feed logs once per outage itself


class MqttLiveFeed:
    """Subscribes to device data and status and publishes them to a :class:`LiveHub`."""

    def __init__(
        self,
        hub: LiveHub,
        host: str,
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        client_id: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.hub = hub
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tls = tls
        self.ca_file = ca_file
        self.client_id = client_id or f"meterhub-web-{secrets.token_hex(6)}"
        self.connected = False
        self.subscribed = asyncio.Event()
        self.received = 0
        self.readings = 0
        self.rejects = 0
        self.outages = 0
        self._tracks: dict[str, _Track] = {}
        self._intervals: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_target(cls, hub: LiveHub, target: BrokerTargetLike) -> MqttLiveFeed:
        return cls(
            hub,
            target.host,
            target.port,
            target.username,
            target.password,
            target.tls,
            ca_file=target.ca_file,
        )

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting (in the background) and sweeping for silent devices."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name="live-mqtt"),
            loop.create_task(self._sweeper(), name="live-sweep"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.connected = False

    def stats(self) -> dict[str, int]:
        return {
            "mqtt_connected": int(self.connected),
            "mqtt_messages": self.received,
            "mqtt_readings": self.readings,
            "mqtt_rejects": self.rejects,
            "mqtt_outages": self.outages,
            "tracked_devices": len(self._tracks),
        }

    async def _run(self) -> None:
        delay = RECONNECT_MIN_S
        down_since: float | None = None
        where = f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe([(topic, 0) for topic in TOPICS])
                    self.connected = True
                    self.subscribed.set()
                    if down_since is not None:
                        log.info(
                            "live feed: MQTT broker %s back after %.0f s",
                            where,
                            time.monotonic() - down_since,
                        )
                    else:
                        log.info("live feed: subscribed to %s at %s", ", ".join(TOPICS), where)
                    down_since = None
                    delay = RECONNECT_MIN_S
                    async for message in client.messages:
                        self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    log.warning("live feed: lost MQTT broker %s; reconnecting", where)
                elif down_since is None:
                    log.warning(
                        "live feed: MQTT broker %s unreachable (%s); retrying with "
                        "back-off up to %.0f s",
                        where,
                        exc or type(exc).__name__,
                        RECONNECT_MAX_S,
                    )
                if down_since is None:
                    down_since = time.monotonic()
                    self.outages += 1
            finally:
                self.connected = False
                self.subscribed.clear()
            await asyncio.sleep(delay * (0.8 + 0.4 * secrets.randbelow(1000) / 1000))
            delay = min(delay * 2, RECONNECT_MAX_S)

    def _client(self) -> aiomqtt.Client:
        """A fresh clean-session MQTT 3.1.1 client (connects on ``async with``)."""
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username or None,
            password=self.password if self.username else None,
            identifier=self.client_id,
            clean_session=True,
            protocol=aiomqtt.ProtocolVersion.V311,
            keepalive=KEEPALIVE_S,
            timeout=CONNECT_TIMEOUT_S,
            tls_context=client_tls_context(self.ca_file) if self.tls else None,
            logger=_client_log,
        )

    def _on_message(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            return  # paho always hands over bytes; the type also allows str and numbers
        try:
            self.handle_message(message.topic.value, bytes(payload))
        except Exception:  # a bug here must not take the subscription down
            log.exception("live feed: failed on a message on %s", message.topic.value)

    # -- pure-ish core (tests call these directly) -------------------------------------
    def handle_message(
        self, topic: str, payload: bytes, now: float | None = None, wall: float | None = None
    ) -> None:
        """Decode one MQTT message and publish what browsers should see."""
        self.received += 1
        received_at = time.time() if wall is None else wall
        mono = time.monotonic() if now is None else now
        if topic.endswith("/data"):
            decoded = decode_data(topic, payload, received_at)
            self.rejects += len(decoded.rejects)
            newest: dict[str, Any] = {}
            owners = self.hub.topic_owners
            for reading in decoded.readings:  # a backlog batch: only the newest matters
                serial = _bound(owners, reading.topic_id, reading.serial)
                if serial is None:
                    self.rejects += 1  # another device's serial: ingest dead-letters it
                    continue
                best = newest.get(serial)
                if best is None or reading.ts >= best.ts:
                    newest[serial] = reading
            for serial, reading in newest.items():
                self.readings += 1
                self._reading(serial, reading, mono)
        elif topic.endswith("/status"):
            status = decode_status(topic, payload, received_at)
            serial = (
                _bound(self.hub.topic_owners, status.device_id, status.serial)
                if isinstance(status, StatusUpdate)
                else None
            )
            if isinstance(status, StatusUpdate) and serial is not None:
                status.serial = serial
                self._status(status)
            else:
                self.rejects += 1

    def _reading(self, serial: str, reading: Any, mono: float) -> None:
        track = self._tracks.get(serial)
        if track is None:
            if len(self._tracks) >= MAX_TRACKED:
                return
            interval = self._intervals.get(serial, DEFAULT_INTERVAL_S)
            self._tracks[serial] = _Track(mono, reading.ts, interval)
            self.hub.publish_status(serial, True)  # it publishes, so it is online
        else:
            track.last_reading = mono
            if reading.ts < track.last_ts:
                return  # older than what browsers have (late backlog): not "live"
            track.last_ts = reading.ts
        if not self.hub.viewers(serial):
            return
        self.hub.publish_reading(
            serial,
            reading_message(
                serial,
                reading.ts,
                {
                    "voltage": reading.voltage,
                    "current": reading.current,
                    "power": reading.power,
                    "energy": reading.energy,
                    "frequency": reading.frequency,
                    "pf": reading.pf,
                },
            ),
        )

    def _status(self, status: StatusUpdate) -> None:
        serial = status.serial
        assert serial is not None
        interval = status.extra.get("interval_s") or status.extra.get("reading_interval")
        if isinstance(interval, int) and 1 <= interval <= 86400:
            if len(self._intervals) < MAX_TRACKED:
                self._intervals[serial] = float(interval)
            if serial in self._tracks:
                self._tracks[serial].interval_s = float(interval)
        if not status.online:
            self._tracks.pop(serial, None)
        self.hub.publish_status(serial, status.online)

    def sweep(self, now: float | None = None) -> list[str]:
        """Publish ``offline`` for devices silent too long; returns their serials."""
        mono = time.monotonic() if now is None else now
        silent = [
            s
            for s, t in self._tracks.items()
            if mono - t.last_reading > OFFLINE_AFTER_INTERVALS * t.interval_s
        ]
        for serial in silent:
            del self._tracks[serial]
            self.hub.publish_status(serial, False)
        return silent

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            self.sweep()


def _bound(owners: dict[str, str], topic_id: str | None, serial: str | None) -> str | None:
    """The serial of the topic's device when `serial` (the payload's, or the topic id) is
    it; None for another device's serial (see meterhub.store.binding)."""
    if topic_id is None:
        return serial
    owner = owners.get(topic_id, topic_id)
    if serial in (owner, topic_id):
        return owner
    return None
