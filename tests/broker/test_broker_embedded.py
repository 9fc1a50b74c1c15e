"""The embedded amqtt broker: start, relay QoS 1, persistent sessions, stop, port clashes."""

from __future__ import annotations

import queue
import socket
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.broker import embedded
from meterhub.broker.embedded import EmbeddedBroker, start_embedded_broker
from meterhub.broker.errors import BrokerStartError, port_in_use_message
from meterhub.broker.probe import mqtt_answers
from meterhub.broker.url import BrokerTarget, resolve_broker

Received = queue.Queue[tuple[str, bytes, int]]


def _client(port: int, client_id: str, *, clean: bool = True) -> tuple[mqtt.Client, Received]:
    inbox: Received = queue.Queue()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=clean,
    )
    client.on_message = lambda _c, _u, msg: inbox.put((msg.topic, msg.payload, msg.qos))
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    return client, inbox


def _subscribe(client: mqtt.Client, topic: str) -> None:
    done = queue.Queue[bool]()
    client.on_subscribe = lambda *_args: done.put(True)
    client.subscribe(topic, qos=1)
    done.get(timeout=5)


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_relays_qos1_between_mqtt311_clients(embedded_broker: EmbeddedBroker) -> None:
    port = embedded_broker.port
    sub, inbox = _client(port, f"sub-{uuid.uuid4().hex[:8]}")
    _subscribe(sub, "meter/+/data")
    pub, _ = _client(port, f"pub-{uuid.uuid4().hex[:8]}")
    info = pub.publish("meter/PZEM-1/data", b'{"power": 1}', qos=1)
    info.wait_for_publish(timeout=5)
    topic, payload, qos = inbox.get(timeout=5)
    assert (topic, payload, qos) == ("meter/PZEM-1/data", b'{"power": 1}', 1)
    _close(pub)
    _close(sub)


def test_persistent_session_queues_qos1_while_away(embedded_broker: EmbeddedBroker) -> None:
    """The ingest pattern: clean_session=False keeps readings published while it is away."""
    port = embedded_broker.port
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    sub, _ = _client(port, client_id, clean=False)
    _subscribe(sub, "meter/+/data")
    _close(sub)
    pub, _ = _client(port, f"pub-{uuid.uuid4().hex[:8]}")
    pub.publish("meter/PZEM-2/data", b"while-away", qos=1).wait_for_publish(timeout=5)
    _close(pub)
    sub, inbox = _client(port, client_id, clean=False)
    assert inbox.get(timeout=5)[:2] == ("meter/PZEM-2/data", b"while-away")
    _close(sub)


def test_auto_detects_a_running_broker(embedded_broker: EmbeddedBroker) -> None:
    target, start = resolve_broker("auto", embedded_broker.port)
    assert target == BrokerTarget("127.0.0.1", embedded_broker.port)
    assert start is False


def test_port_taken_by_another_program(free_port: int) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        with pytest.raises(BrokerStartError) as info:
            start_embedded_broker(free_port, host="127.0.0.1")
    message = str(info.value)
    assert message == port_in_use_message(free_port)
    assert message.startswith(f"MQTT port {free_port} is already in use: ")
    assert "MQTT_PORT" in message and "MQTT_BROKER_URL=mqtt://host:port" in message


def test_port_lost_in_a_race_is_reported_by_the_child(
    free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child process exits with a known code when its bind fails; same message."""
    monkeypatch.setattr(embedded, "_port_taken", lambda _host, _port: False)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port))
        holder.listen()
        with pytest.raises(BrokerStartError, match=f"MQTT port {free_port} is already in use"):
            start_embedded_broker(free_port, host="127.0.0.1")


def test_stop_is_clean_and_frees_the_port(free_port: int) -> None:
    broker = start_embedded_broker(free_port, host="127.0.0.1")
    assert broker.running and broker.pid > 0
    assert mqtt_answers("127.0.0.1", free_port)
    assert broker.stop(timeout=10) == 0
    assert not broker.running
    deadline = time.monotonic() + 5
    while mqtt_answers("127.0.0.1", free_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not mqtt_answers("127.0.0.1", free_port)
    assert resolve_broker("auto", free_port)[1] is True
