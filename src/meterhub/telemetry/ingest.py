"""The MQTT side of ingest: subscribe, decode, hand to the writer, acknowledge after commit.

paho-mqtt with `manual_ack=True` is used because it can hold back the PUBACK of an MQTT
3.1.1 QoS 1 message (gmqtt always acknowledges on receipt below MQTT 5, and the embedded
broker speaks 3.1.1 only). The session is persistent (fixed client id, clean session off):
messages published while ingest is down are delivered when it returns, and messages whose
batch had not committed when the process died are redelivered; the readings' primary key
makes that harmless.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.broker.url import BrokerTarget
from meterhub.telemetry.payload import (
    RAW_KEEP_BYTES,
    Reason,
    Reject,
    StatusUpdate,
    decode_ack,
    decode_data,
    decode_status,
    parse_topic,
)
from meterhub.telemetry.store import Batch
from meterhub.telemetry.writer import WorkItem, Writer

log = logging.getLogger(__name__)

CLIENT_ID = "meterhub-ingest"
SUBSCRIPTIONS = [("meter/+/data", 1), ("meter/+/status", 1), ("meter/+/control/ack", 1)]
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
KEEPALIVE_S = 30


class MqttIngest:
    """Connects to the broker and feeds the writer; runs paho's loop in its own thread."""

    def __init__(self, target: BrokerTarget, writer: Writer, client_id: str = CLIENT_ID) -> None:
        self.target = target
        self.writer = writer
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # set when the broker confirmed the subscriptions
        self.received = 0
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
        """Connect in the background (retrying until the broker answers)."""
        self.client.connect_async(self.target.host, self.target.port, KEEPALIVE_S)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("broker %s refused ingest: %s", self.target.display_url, reason)
            return
        self._generation += 1
        client.subscribe(SUBSCRIPTIONS)
        self.connected.set()
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
        self.connected.clear()
        self.subscribed.clear()
        if not self._was_down_logged:
            log.warning("ingest lost the broker %s (%s); reconnecting", self.target.display_url,
                        reason)
            self._was_down_logged = True

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        batch = decode_message(msg.topic, msg.payload, time.time())
        generation, mid, qos = self._generation, msg.mid, msg.qos

        def ack() -> None:
            if qos > 0 and generation == self._generation:
                client.ack(mid, qos)

        self.writer.submit(WorkItem(batch, ack, msg.topic,
                                    bytes(msg.payload[:RAW_KEEP_BYTES]).decode("utf-8", "replace")))


def decode_message(topic: str, payload: bytes | bytearray, received_at: float) -> Batch:
    """What a message on `topic` means for the store (pure; bad input becomes rejects)."""
    batch = Batch()
    try:
        _, kind = parse_topic(topic)
    except ValueError as exc:
        batch.rejects.append(_topic_reject(topic, payload, received_at, str(exc)))
        return batch
    if kind == "data":
        decoded = decode_data(topic, payload, received_at)
        batch.readings = decoded.readings
        batch.rejects = decoded.rejects
    elif kind == "status":
        if not payload:
            return batch  # a retained status being cleared: nothing to record
        status = decode_status(topic, payload, received_at)
        if isinstance(status, StatusUpdate) and status.serial is None:
            batch.rejects.append(_topic_reject(
                topic, payload, received_at, "status from a topic id that is not a valid "
                "serial, without a serial_number", "bad_serial"))
        elif isinstance(status, StatusUpdate):
            batch.statuses.append(status)
        else:
            batch.rejects.append(status)
    elif kind == "control/ack":
        ack = decode_ack(topic, payload, received_at)
        if isinstance(ack, Reject):
            batch.rejects.append(ack)
        else:
            batch.acks.append(ack)
    return batch


def _topic_reject(topic: str, payload: bytes | bytearray, received_at: float, why: str,
                  reason: Reason = "bad_topic") -> Reject:
    return Reject(reason=reason, detail=why[:200], topic=topic,
                  raw=payload[:2048].decode("utf-8", "replace"), received_at=received_at)
