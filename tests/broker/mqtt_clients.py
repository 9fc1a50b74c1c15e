"""A small synchronous MQTT test client (paho) that records what it gets, for broker tests."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

WAIT_S = 5.0


class TestClient:
    """Connects, subscribes, publishes and records messages, answers and disconnects."""

    __test__ = False

    def __init__(
        self,
        port: int,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        clean_session: bool = True,
        tls_ca: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.connack: int | None = None
        self.granted: dict[int, list[int]] = {}
        self.disconnected = threading.Event()
        self._event = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(60, 60)  # tests look at one connection
        if tls_ca is not None:
            self.client.tls_set(ca_certs=tls_ca)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        self.wait(lambda: self.connack is not None or self.disconnected.is_set())

    @property
    def not_authorised(self) -> bool:
        """True if the broker refused the CONNECT as not authorised (paho reports MQTT
        3.1.1's code 5 as the v5 reason 135)."""
        return self.connack == 135

    @property
    def accepted(self) -> bool:
        """True if the broker said yes to the CONNECT."""
        return self.connack == 0

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; the granted QoS, or 128 for a refusal."""
        _, mid = self.client.subscribe(topic, qos=1)
        self.wait(lambda: mid in self.granted)
        return self.granted[mid][0]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 (amqtt acknowledges even what the ACL drops)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(WAIT_S)

    def got(self, topic: str, timeout: float = WAIT_S) -> bool:
        """True once a message on `topic` arrived (waits up to `timeout`)."""
        return self.wait(lambda: any(t == topic for t, _ in self.messages), timeout)

    def wait(self, predicate: Any, timeout: float = WAIT_S) -> bool:
        deadline = time.monotonic() + timeout
        with self._event:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._event.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _notify(self) -> None:
        with self._event:
            self._event.notify_all()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connack = reason.value if hasattr(reason, "value") else int(reason)
        self._notify()

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        self.messages.append((message.topic, message.payload))
        self._notify()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        self.granted[mid] = [c.value for c in codes]
        self._notify()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.disconnected.set()
        self._notify()
