"""Ingest through a real broker (the embedded amqtt and the local Mosquitto) into SQLite
and PostgreSQL: every payload form, duplicates, bad input, pending devices."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select, text

from meterhub.broker.url import BrokerTarget
from meterhub.db.models import Device, IngestReject
from meterhub.ingest.receiver import MqttIngest
from tests.support import free_port, port_open, require, wait_for

BROKERS = ["embedded", "mosquitto"]


@pytest.fixture(scope="module")
def embedded_broker() -> Iterator[BrokerTarget]:
    from meterhub.broker.embedded import start_embedded_broker

    port = free_port()
    broker = start_embedded_broker(port, host="127.0.0.1")
    yield BrokerTarget("127.0.0.1", port)
    broker.stop()


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest) -> BrokerTarget:
    if request.param == "mosquitto":
        require(port_open(1883), "Mosquitto is not answering on 127.0.0.1:1883")
        return BrokerTarget("127.0.0.1", 1883)
    target: BrokerTarget = request.getfixturevalue("embedded_broker")
    return target


def consumer(ctx: Any, broker: BrokerTarget, client_id: str) -> MqttIngest:
    return MqttIngest(broker, ctx.settings.database_url, client_id=client_id)


@pytest.fixture
def ingest(ctx: Any, broker: BrokerTarget) -> Iterator[MqttIngest]:
    running = consumer(ctx, broker, f"test-ingest-{uuid.uuid4().hex[:8]}")
    running.start()
    assert running.subscribed.wait(20), "ingest did not subscribe"
    yield running
    running.stop()
    assert not running.failed.is_set()


def publish(broker: BrokerTarget, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(broker.host, broker.port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def count(ctx: Any, sql: str) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def test_every_payload_form_reaches_the_database(
    ctx: Any, broker: BrokerTarget, ingest: MqttIngest
) -> None:
    serial = f"T-{uuid.uuid4().hex[:8]}"
    now = int(time.time())
    legacy = orjson.dumps(
        {
            "serial_number": serial,
            "device_id": "esp8266-01",
            "voltage": 229.8,
            "current": 0.452,
            "power": 98.6,
            "energy": 12.345,
            "timestamp": now - 100,
        }
    )
    v1 = orjson.dumps(
        {
            "serial_number": serial,
            "seq": 2,
            "timestamp": now - 90,
            "voltage": 230.1,
            "current": 1.234,
            "power": 250.5,
            "energy": 12.346,
            "frequency": 50.0,
            "pf": 0.95,
            "alarm": False,
            "firmware_version": "1.0.0",
            "ip_address": "10.0.0.7",
        }
    )
    batch = orjson.dumps(
        {
            "serial_number": serial,
            "readings": [
                {
                    "seq": 3 + i,
                    "timestamp": now - 80 + i * 10,
                    "voltage": 230.0,
                    "current": 1.0,
                    "power": 230.0,
                    "energy": 12.347 + i * 0.001,
                }
                for i in range(5)
            ],
        }
    )
    bad = [
        b"{broken",
        orjson.dumps(
            {"serial_number": serial, "voltage": 999, "current": 1, "power": 1, "energy": 1}
        ),
        b"z" * 70_000,
        orjson.dumps(
            {"serial_number": serial, "voltage": "230", "current": 1, "power": 1, "energy": 1}
        ),
    ]
    topic = f"meter/{serial}/data"
    publish(
        broker,
        [(topic, legacy), (topic, v1), (topic, batch), (topic, v1)] + [(topic, b) for b in bad],
    )
    wait_for(
        lambda: (
            count(ctx, "SELECT count(*) FROM ingest_rejects") >= 4
            and count(ctx, "SELECT count(*) FROM readings") >= 7
        ),
        15,
    )
    assert ingest.flush()
    assert count(ctx, "SELECT count(*) FROM readings") == 7  # the repeated v1 stored once
    with ctx.sessions() as db:
        device = db.scalar(select(Device).where(Device.serial_number == serial))
        reasons = sorted(r.reason for r in db.scalars(select(IngestReject)))
    assert device is not None and device.status == "pending"
    assert device.firmware_version == "1.0.0" and device.ip_address == "10.0.0.7"
    assert reasons == ["malformed_json", "out_of_range", "oversized", "wrong_type"]


def test_readings_published_while_ingest_is_down_arrive(ctx: Any, broker: BrokerTarget) -> None:
    serial = f"P-{uuid.uuid4().hex[:8]}"
    client_id = f"test-persist-{uuid.uuid4().hex[:8]}"
    first = consumer(ctx, broker, client_id)
    first.start()
    assert first.subscribed.wait(20)
    first.stop()  # the session (and its subscriptions) stays on the broker
    now = time.time()
    publish(
        broker,
        [
            (
                f"meter/{serial}/data",
                orjson.dumps(
                    {
                        "serial_number": serial,
                        "seq": i,
                        "timestamp": now - 100 + i,
                        "voltage": 231,
                        "current": 1,
                        "power": 231,
                        "energy": 3 + i / 1000,
                    }
                ),
            )
            for i in range(20)
        ],
    )
    second = consumer(ctx, broker, client_id)
    second.start()
    try:
        wait_for(lambda: count(ctx, "SELECT count(*) FROM readings") == 20, 15)
    finally:
        second.stop()


def test_status_and_last_will_set_online_state(
    ctx: Any, broker: BrokerTarget, ingest: MqttIngest
) -> None:
    serial = f"W-{uuid.uuid4().hex[:8]}"
    device = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    device.will_set(f"meter/{serial}/status", "offline", qos=1, retain=True)
    device.connect(broker.host, broker.port, keepalive=5)
    device.loop_start()
    device.publish(
        f"meter/{serial}/status",
        orjson.dumps({"state": "online", "firmware_version": "2.0.1", "rssi": -58}),
        qos=1,
        retain=True,
    ).wait_for_publish(5)

    def online() -> bool:
        with ctx.sessions() as db:
            d = db.scalar(select(Device).where(Device.serial_number == serial))
            return d is not None and d.online and d.firmware_version == "2.0.1"

    wait_for(online, 15)
    device._sock_close()  # an abrupt drop: the broker publishes the last will
    device.loop_stop()

    def offline() -> bool:
        with ctx.sessions() as db:
            d = db.scalar(select(Device).where(Device.serial_number == serial))
            return d is not None and not d.online

    wait_for(offline, 30)
    # Leave the shared broker as found: an empty retained message clears the last will.
    publish(broker, [(f"meter/{serial}/status", b"")], retain=True)
