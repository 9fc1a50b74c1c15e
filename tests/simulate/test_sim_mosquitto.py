"""The simulator against the machine's Mosquitto (127.0.0.1:1883), with paho as subscriber."""

from __future__ import annotations

import asyncio
import io
import json
import queue
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.broker.probe import mqtt_answers
from meterhub.broker.url import BrokerTarget
from meterhub.simulate import build_models, make_serials
from meterhub.simulate.runner import SimOptions, run_simulation
from tests.support import require

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def mosquitto() -> BrokerTarget:
    """The local Mosquitto; skipped when absent, except in CI where it must exist."""
    require(
        mqtt_answers("127.0.0.1", 1883),
        "no MQTT broker on 127.0.0.1:1883 (install and start mosquitto)",
    )
    return BrokerTarget("127.0.0.1", 1883)


def test_publishes_readings_and_status_to_mosquitto(mosquitto: BrokerTarget) -> None:
    serials = make_serials(2, seed=int(time.time()))  # fresh serials: no retained leftovers
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    ready: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
    )
    client.on_message = lambda _c, _u, m: inbox.put((m.topic, m.payload))
    client.on_subscribe = lambda *_a: ready.put(True)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        client.subscribe([(f"meter/{s}/#", 1) for s in serials])
        ready.get(timeout=5)
        options = SimOptions(interval=0.2, duration=1.2, outages=0.2, seed=5)
        stats = asyncio.run(
            run_simulation(build_models(serials), mosquitto, options, stream=io.StringIO())
        )
        seen = 0
        deadline = time.monotonic() + 5
        while seen < stats.readings and time.monotonic() < deadline:
            topic, payload = inbox.get(timeout=5)
            if topic.endswith("/data"):
                body = json.loads(payload)
                seen += len(body["readings"]) if "readings" in body else 1
        assert seen == stats.readings
    finally:
        for serial in serials:  # clear the retained status this test left behind
            client.publish(f"meter/{serial}/status", b"", qos=1, retain=True).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
