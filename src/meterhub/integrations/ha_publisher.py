"""The Home Assistant discovery publisher: announces every active device, keeps its
availability and state current from the committed readings, re-announces when HA comes
back online, and removes what belongs to deleted devices.

Threads: paho's network loop only records what arrived (HA's birth message, retained
configs and availabilities found on the broker) under a lock; one polling loop reads the
database and publishes. Every decision about what to send is made in `sync`, which the
tests drive directly.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from meterhub.broker.url import BrokerTarget
from meterhub.integrations import ha_discovery as ha
from meterhub.integrations.mqtt_client import make_client
from meterhub.integrations.source import ActiveDevice, active_devices, latest_snapshot

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger("meterhub.integrations.ha")
POLL_S = 2.0
REANNOUNCE_JITTER_S = 5.0
"""HA asks for a random small delay after its birth message, so not every publisher
answers at once."""

CostSource = Callable[[Connection, ActiveDevice], "ha.MonthCost | None"]
"""The month-to-date cost of a device, or None when it has no tariff: every device it
prices gets a `monetary` "Cost this month" sensor (see `ha_discovery.cost_config`). The
integrations process passes `ha_cost.CachedMonthCost` (the tariffs' figures)."""


@dataclass
class _Inbox:
    """What the network thread saw, for the polling loop (guarded by `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    announce_at: float | None = None
    connected: bool = False
    retained_configs: set[str] = field(default_factory=set)
    retained_availability: set[str] = field(default_factory=set)


class HaPublisher:
    """Publishes discovery configs, availability and states for every active device."""

    def __init__(
        self,
        engine: Engine,
        target: BrokerTarget,
        prefix: str = "homeassistant",
        public_url: str | None = None,
        cost_source: CostSource | None = None,
    ) -> None:
        self.engine, self.target, self.prefix = engine, target, prefix.rstrip("/")
        self.public_url = public_url.rstrip("/") if public_url else None
        self.cost_source = cost_source
        self.inbox = _Inbox()
        self.client: mqtt.Client = make_client(target, "ha", ha.BRIDGE_AVAILABILITY_TOPIC)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._configs: dict[str, str] = {}  # topic -> payload we published
        self._online: dict[str, bool] = {}  # serial -> availability we published
        self._last_ts: dict[str, int] = {}  # serial -> ts of the state we published
        self._energy_high: dict[str, float] = {}  # serial -> highest energy published
        self._states: dict[str, str] = {}  # serial -> last state payload
        self._stopping = False

    # -- network thread ----------------------------------------------------------------
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s refused the connection: %s", self.target.display_url, reason)
            return
        client.publish(ha.BRIDGE_AVAILABILITY_TOPIC, ha.ONLINE, qos=1, retain=True)
        client.subscribe(
            [
                (f"{self.prefix}/status", 1),
                (f"{self.prefix}/sensor/+/+/config", 1),
                ("meterhub/+/availability", 1),
            ]
        )
        with self.inbox.lock:
            self.inbox.connected = True
            self.inbox.announce_at = time.monotonic()  # a new session: announce everything
        log.info("HA discovery connected to %s (prefix %s)", self.target.display_url, self.prefix)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, p: Any) -> None:
        with self.inbox.lock:
            self.inbox.connected = False
        if not self._stopping:
            log.warning("HA discovery lost the MQTT broker (%s); reconnecting", reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        topic: str = msg.topic
        with self.inbox.lock:
            if topic == f"{self.prefix}/status":
                if msg.payload.strip().lower() == b"online":
                    delay = random.uniform(0, REANNOUNCE_JITTER_S)
                    self.inbox.announce_at = time.monotonic() + delay
                    log.info("Home Assistant came online; re-announcing in %.1f s", delay)
                return
            if topic.endswith("/config"):
                node = topic.split("/")[-3]
                if node.startswith(ha.NODE_PREFIX):
                    if msg.payload:
                        self.inbox.retained_configs.add(topic)
                    else:
                        self.inbox.retained_configs.discard(topic)
                return
            if topic.endswith("/availability"):
                if msg.payload:
                    self.inbox.retained_availability.add(topic)
                else:
                    self.inbox.retained_availability.discard(topic)

    # -- polling loop ------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Connect (retrying in the background) and sync every POLL_S until `stop`."""
        self.client.connect_async(self.target.host, self.target.port, keepalive=30)
        self.client.loop_start()
        try:
            while not stop.is_set():
                try:
                    self.sync()
                except SQLAlchemyError as exc:
                    log.error("HA discovery cannot read the database: %s", exc)
                stop.wait(POLL_S)
        finally:
            self._stopping = True
            self.client.publish(ha.BRIDGE_AVAILABILITY_TOPIC, ha.OFFLINE, qos=1, retain=True)
            self.client.disconnect()
            self.client.loop_stop()

    def sync(self) -> None:
        """One pass: (re-)announce when due, publish changes, clear what is gone."""
        with self.inbox.lock:
            if not self.inbox.connected:
                return
            announce = (
                self.inbox.announce_at is not None and self.inbox.announce_at <= time.monotonic()
            )
            if announce:
                self.inbox.announce_at = None
            seen_configs = set(self.inbox.retained_configs)
            seen_availability = set(self.inbox.retained_availability)
        if announce:  # forget what we sent: HA (or the broker) may have lost it
            self._configs.clear()
            self._online.clear()
            self._states.clear()
        with self.engine.connect() as conn:
            devices = active_devices(conn)
            wanted: set[str] = set()
            for device in devices:
                wanted |= self._sync_device(conn, device, resend_state=announce)
        self._clear_stale(seen_configs - wanted, seen_availability, {d.serial for d in devices})

    def _sync_device(self, conn: Connection, device: ActiveDevice, resend_state: bool) -> set[str]:
        cost = self.cost_source(conn, device) if self.cost_source is not None else None
        info = ha.DeviceInfo(
            serial=device.serial,
            name=device.name,
            firmware=device.firmware,
            location=device.location,
            configuration_url=f"{self.public_url}/devices/{device.serial}"
            if self.public_url
            else None,
        )
        configs = ha.device_configs(self.prefix, info, cost.currency if cost else None)
        for topic, config in configs.items():
            payload = json.dumps(config, sort_keys=True)
            if self._configs.get(topic) != payload:
                self._publish(topic, payload)
                self._configs[topic] = payload
        if self._online.get(device.serial) != device.online:
            self._publish(
                ha.availability_topic(device.serial), ha.ONLINE if device.online else ha.OFFLINE
            )
            self._online[device.serial] = device.online
        self._sync_state(conn, device, cost, resend_state)
        return set(configs)

    def _sync_state(
        self, conn: Connection, device: ActiveDevice, cost: ha.MonthCost | None, resend: bool
    ) -> None:
        serial = device.serial
        snap = latest_snapshot(conn, device.id, None if resend else self._last_ts.get(serial))
        if snap is None:
            return  # no reading, or nothing newer than what HA has
        high = self._energy_high.get(serial, 0.0)
        if snap.energy_total_kwh < high:
            # A late reading re-summed a day to a hair less: hold the highest value sent,
            # HA must never see the total go down.
            snap = _with_energy(snap, high)
        state = ha.state_payload(snap, cost)
        self._last_ts[serial] = snap.ts_ms
        if state is None:
            return  # no positive energy yet: send nothing rather than a 0
        payload = json.dumps(state, sort_keys=True)
        if resend or self._states.get(serial) != payload:
            self._publish(ha.state_topic(serial), payload)
            self._states[serial] = payload
        self._energy_high[serial] = max(high, state["energy"])

    def _clear_stale(
        self, stale_configs: set[str], seen_availability: set[str], serials: set[str]
    ) -> None:
        """Empty retained messages remove HA entities of deleted (or no longer active)
        devices, found among the retained configs on the broker, even ones announced
        before this process started."""
        for topic in sorted(stale_configs):
            self._publish(topic, "")
            self._configs.pop(topic, None)
            log.info("HA discovery: removed %s", topic)
        for topic in sorted(seen_availability):
            serial = topic.split("/")[1]
            if serial != "bridge" and serial not in serials:
                self._publish(topic, "")
                self._publish(ha.state_topic(serial), "")
                for known in (self._online, self._last_ts, self._states, self._energy_high):
                    known.pop(serial, None)

    def _publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload.encode(), qos=1, retain=True)


def _with_energy(snap: ha.Snapshot, energy: float) -> ha.Snapshot:
    from dataclasses import replace

    return replace(snap, energy_total_kwh=energy)
