"""A one-shot MQTT publisher for the web process: connect, publish, wait for the broker's
acknowledgement, disconnect.

The web app sends a few commands an hour, so a connection per message is cheap, needs no
lifespan-owned client, and makes the answer honest: when this returns, the broker has the
message (QoS 1 PUBACK). Every wait is bounded by `timeout`, so a dead broker is an error
within seconds, never a hanging request. paho-mqtt is imported at the first publish: a web
process that sends no command does not carry it (about 3 MiB).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from meterhub.broker.url import BrokerTarget
from meterhub.mqtt_tls import client_tls_context

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

CONNECT_TIMEOUT_S = 3.0  # TCP connect, then CONNACK, then PUBACK: each within this
LOOP_STEP_S = 0.05


class PublishError(Exception):
    """The message did not reach the broker; the text says why (for people)."""


def publish_once(
    target: BrokerTarget,
    topic: str,
    payload: bytes,
    qos: int = 1,
    timeout: float = CONNECT_TIMEOUT_S,
    retain: bool = False,
) -> None:
    """Publish one message and return once the broker acknowledged it (QoS 1) or sent it
    (QoS 0); PublishError on any failure, within about 3 x `timeout`."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    state: dict[str, Any] = {"connected": False, "refused": None}

    def on_connect(
        client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            state["refused"] = str(reason)
        else:
            state["connected"] = True

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"meterhub-web-{uuid.uuid4().hex[:12]}",
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    client.connect_timeout = timeout
    client.on_connect = on_connect
    if target.username:
        client.username_pw_set(target.username, target.password)
    if target.tls:
        client.tls_set_context(client_tls_context(target.ca_file))
    where = target.display_url
    try:
        try:
            client.connect(target.host, target.port, keepalive=max(5, int(timeout * 4)))
        except (OSError, ValueError) as exc:
            raise PublishError(f"MQTT broker {where} unreachable: {_reason(exc)}") from None
        _run_until(
            client, lambda: state["connected"] or state["refused"] is not None, timeout, where
        )
        if state["refused"] is not None:
            raise PublishError(f"MQTT broker {where} refused the connection: {state['refused']}")
        if not state["connected"]:
            raise PublishError(f"MQTT broker {where} did not answer within {timeout:g} s")
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError(f"publishing to {where} failed: {mqtt.error_string(info.rc)}")
        _run_until(client, info.is_published, timeout, where)
        if not info.is_published():
            raise PublishError(
                f"MQTT broker {where} did not acknowledge the message within {timeout:g} s"
            )
    finally:
        _close(client)


def _run_until(client: mqtt.Client, done: Any, timeout: float, where: str) -> None:
    import paho.mqtt.client as mqtt

    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        rc = client.loop(timeout=LOOP_STEP_S)
        if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
            raise PublishError(f"MQTT broker {where}: connection lost ({mqtt.error_string(rc)})")


def _close(client: mqtt.Client) -> None:
    try:
        if client.is_connected():
            client.disconnect()
            client.loop(timeout=LOOP_STEP_S)
    except OSError:
        pass
    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
