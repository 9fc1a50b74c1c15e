"""The MQTT side of ingest: subscribe, hand the raw messages to the writer process
(`handoff`), acknowledge each one after the transaction holding it has committed.

paho-mqtt with `manual_ack=True` is used because it can hold back the PUBACK of an MQTT
3.1.1 QoS 1 message (gmqtt always acknowledges on receipt below MQTT 5, and the embedded
broker speaks 3.1.1 only). The session is persistent (fixed client id, clean session off):
messages published while ingest is down are delivered when it returns, and messages whose
batch had not committed when the process died are redelivered; the readings' primary key
makes that harmless. This process does nothing else, so that paho's receive path, the
slowest part here, has a core to itself.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.broker.url import BrokerTarget
from meterhub.telemetry.handoff import AckKey, WriterProcess

log = logging.getLogger(__name__)

CLIENT_ID = "meterhub-ingest"
SUBSCRIPTIONS = [("meter/+/data", 1), ("meter/+/status", 1), ("meter/+/control/ack", 1)]
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30


class MqttIngest:
    """Connects to the broker and feeds the writer process; paho's loop runs in its own
    thread. `failed` is set if the writer process dies (the caller should exit: nothing
    uncommitted was acknowledged)."""

    def __init__(self, target: BrokerTarget, database_url: str, client_id: str = CLIENT_ID
                 ) -> None:
        self.target = target
        self.handoff = WriterProcess(database_url, self._ack_committed)
        self.failed = self.handoff.failed
        self._stopping = False
        self.subscribed = threading.Event()  # set when the broker confirmed the subscriptions
        self._generation = 0  # bumps at every (re)connect; acks of older ones are void
        self._was_down_logged = False
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True,
                             reconnect_on_failure=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_inflight_messages_set(1000)
        if target.username:
            client.username_pw_set(target.username, target.password)
        if target.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.client = client

    def start(self) -> None:
        """Start the writer; connect in the background (retrying until the broker answers)."""
        self.handoff.start()
        self.client.connect_async(self.target.host, self.target.port, KEEPALIVE_S)
        self.client.loop_start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every message received so far is stored and acknowledged."""
        return self.handoff.drain(timeout)

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Store and acknowledge what is in hand (briefly), then disconnect; anything not
        acknowledged by then is redelivered by the broker at the next start."""
        self._stopping = True  # from now on messages are left to the broker
        self.handoff.drain(drain_timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self.handoff.stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("broker %s refused ingest: %s", self.target.display_url, reason)
            return
        self._generation += 1
        client.subscribe(SUBSCRIPTIONS)
        self._was_down_logged = False
        log.info("ingest connected to %s (session %s)", self.target.display_url,
                 "resumed" if flags.session_present else "new")

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        failed = [r for r in reasons if getattr(r, "is_failure", False)]
        if failed:
            log.error("broker %s refused ingest's subscriptions: %s", self.target.display_url,
                      failed)
            return
        self.subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.subscribed.clear()
        if not self._was_down_logged:
            log.warning("ingest lost the broker %s (%s); reconnecting", self.target.display_url,
                        reason)
            self._was_down_logged = True

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._stopping:
            return  # left unacknowledged: the broker redelivers it at the next start
        # Not taken (the writer is gone or stopping): left unacknowledged, redelivered.
        self.handoff.put(msg.topic, bytes(msg.payload),
                         (self._generation, msg.mid) if msg.qos else None)

    def _ack_committed(self, keys: list[AckKey]) -> None:
        """Acknowledge stored messages; those of an earlier connection are void (the
        broker redelivers them on the new one, and ids are reused)."""
        generation, ack = self._generation, self.client.ack
        for key in keys:
            if key is not None and key[0] == generation:
                ack(key[1], 1)
