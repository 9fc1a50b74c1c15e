"""MqttLiveFeed: decoding into hub messages, silence-based offline, and reconnecting to a
broker that goes away (a private Mosquitto we can stop)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.live import feed as feed_module
from meterhub.live.feed import MqttLiveFeed
from meterhub.live.hub import LiveHub
from tests.live.fakes import RecordingTransport
from tests.support import MOSQUITTO, Mosquitto, require

NOW = 1795773600.0


def payload(power: float, ts: float | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "voltage": 230.0,
        "current": 1.0,
        "power": power,
        "energy": 2.0,
        **extra,
    }
    if ts is not None:
        body["timestamp"] = ts
    return orjson.dumps(body)


class Spy(LiveHub):
    """A hub that records what the feed publishes, with every serial watched."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, Any]] = []

    def publish_reading(self, serial: str, message: dict[str, Any]) -> int:
        self.calls.append(("reading", serial, message))
        return 1

    def publish_status(self, serial: str, online: bool) -> int:
        self.calls.append(("status", serial, online))
        return 1

    def viewers(self, serial: str) -> int:
        return 1


def make_feed() -> tuple[MqttLiveFeed, Spy]:
    spy = Spy()
    return MqttLiveFeed(spy, "127.0.0.1", 1), spy


def test_reading_first_says_online_then_publishes_the_message() -> None:
    feed, spy = make_feed()
    feed.handle_message("meter/M1/data", payload(250.0, NOW - 5), now=100.0, wall=NOW)
    assert spy.calls[0] == ("status", "M1", True)
    kind, serial, msg = spy.calls[1]
    assert (kind, serial) == ("reading", "M1")
    assert msg == {
        "type": "reading",
        "serial": "M1",
        "ts": "2026-11-27T09:59:55.000Z",
        "voltage": 230.0,
        "current": 1.0,
        "power": 250.0,
        "energy": 2.0,
        "frequency": None,
        "pf": None,
    }
    feed.handle_message("meter/M1/data", payload(260.0), now=101.0, wall=NOW)
    assert [c[0] for c in spy.calls] == ["status", "reading", "reading"]


def test_batch_publishes_only_its_newest_reading_and_late_ones_are_skipped() -> None:
    feed, spy = make_feed()
    batch = {
        "serial_number": "M2",
        "readings": [
            {
                "voltage": 230.0,
                "current": 1.0,
                "power": float(p),
                "energy": 1.0,
                "timestamp": NOW - 100 + p,
            }
            for p in (3, 1, 2)
        ],
    }
    feed.handle_message("meter/M2/data", orjson.dumps(batch), now=1.0, wall=NOW)
    readings = [c[2] for c in spy.calls if c[0] == "reading"]
    assert [r["power"] for r in readings] == [3.0]
    feed.handle_message("meter/M2/data", payload(9.0, NOW - 200), now=2.0, wall=NOW)
    assert len([c for c in spy.calls if c[0] == "reading"]) == 1  # older than shown


def test_a_message_belongs_to_its_topics_device() -> None:
    """As in ingest: a payload naming another serial shows nothing for that device; an
    admin's topic id (kept by the access refresher) shows its device's readings."""
    feed, spy = make_feed()
    feed.handle_message("meter/A1/data", payload(5.0, serial_number="B1"), now=1.0, wall=NOW)
    feed.handle_message(
        "meter/A1/status", orjson.dumps({"state": "offline", "serial_number": "B1"}), now=1.0
    )
    assert spy.calls == [] and feed.rejects == 2
    spy.topic_owners = {"KITCHEN": "B1"}
    feed.handle_message("meter/KITCHEN/data", payload(6.0, serial_number="B1"), now=2.0, wall=NOW)
    feed.handle_message("meter/KITCHEN/data", payload(7.0), now=3.0, wall=NOW)
    feed.handle_message("meter/KITCHEN/status", b"offline", now=4.0, wall=NOW)
    assert [(c[0], c[1]) for c in spy.calls] == [
        ("status", "B1"),
        ("reading", "B1"),
        ("reading", "B1"),
        ("status", "B1"),
    ]


def test_rejects_are_counted_and_never_published() -> None:
    feed, spy = make_feed()
    feed.handle_message("meter/M3/data", b"{not json", now=1.0, wall=NOW)
    feed.handle_message("meter/M3/data", payload(99999.0), now=1.0, wall=NOW)
    feed.handle_message("meter/M3/status", b"", now=1.0, wall=NOW)
    assert spy.calls == [] and feed.rejects == 3


def test_silence_means_offline_after_three_intervals() -> None:
    feed, spy = make_feed()
    feed.handle_message("meter/M4/data", payload(1.0), now=0.0, wall=NOW)
    feed.handle_message(
        "meter/M5/status", orjson.dumps({"state": "online", "interval_s": 2}), now=0.0, wall=NOW
    )
    feed.handle_message("meter/M5/data", payload(1.0), now=0.0, wall=NOW)
    spy.calls.clear()
    assert feed.sweep(now=5.0) == []
    assert feed.sweep(now=6.5) == ["M5"]  # 3 x 2 s
    assert feed.sweep(now=29.0) == []
    assert feed.sweep(now=30.5) == ["M4"]  # 3 x the default 10 s
    assert spy.calls == [("status", "M5", False), ("status", "M4", False)]
    assert feed.sweep(now=100.0) == []  # once per silence
    feed.handle_message("meter/M4/data", payload(2.0), now=101.0, wall=NOW)
    assert spy.calls[-2] == ("status", "M4", True)  # back


def test_status_messages_pass_through() -> None:
    feed, spy = make_feed()
    feed.handle_message("meter/M6/status", b"offline", now=0.0, wall=NOW)
    feed.handle_message("meter/M6/status", b'{"state":"online","rssi":-50}', now=0.0, wall=NOW)
    assert spy.calls == [("status", "M6", False), ("status", "M6", True)]


def test_no_viewers_no_message_is_built() -> None:
    hub = LiveHub()
    feed = MqttLiveFeed(hub, "127.0.0.1", 1)
    feed.handle_message("meter/M7/data", payload(1.0), now=0.0, wall=NOW)
    assert hub.stats()["messages_published"] == 0 and feed.readings == 1


# -- against a broker that comes and goes -------------------------------------------------


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of our own on a free port, not yet started: the test starts and stops it."""
    require(os.path.exists(MOSQUITTO), f"{MOSQUITTO} is not installed")
    broker = Mosquitto(tmp_path / "broker", persistent=False)
    yield broker
    broker.stop()


def publish_once(port: int, topic: str, body: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, body, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_feed_survives_broker_outages_and_logs_once(
    private_broker: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(feed_module, "RECONNECT_MIN_S", 0.05)
    monkeypatch.setattr(feed_module, "RECONNECT_MAX_S", 0.2)
    caplog.set_level(logging.INFO, logger="meterhub.live.feed")

    async def until(check: Any, what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    async def scenario() -> RecordingTransport:
        hub = LiveHub(flush_interval=0.01)
        transport = RecordingTransport()
        hub.register(
            transport, user_id=1, username="u", is_admin=True, session_id="s", serials={"OUT1"}
        )
        feed = MqttLiveFeed(hub, "127.0.0.1", private_broker.port)
        await feed.start()  # broker not there yet: must neither raise nor block
        await asyncio.sleep(0.6)  # several attempts
        assert not feed.connected and feed.outages == 1
        private_broker.start()
        await until(feed.subscribed.is_set, "subscription")
        await asyncio.to_thread(publish_once, private_broker.port, "meter/OUT1/data", payload(1.0))
        await until(lambda: any(m.get("power") == 1.0 for m in transport.messages), "reading 1")
        private_broker.stop()
        await until(lambda: not feed.connected, "the loss to be noticed")
        await asyncio.sleep(0.5)
        private_broker.start()
        await until(feed.subscribed.is_set, "re-subscription")
        await asyncio.to_thread(publish_once, private_broker.port, "meter/OUT1/data", payload(2.0))
        await until(lambda: any(m.get("power") == 2.0 for m in transport.messages), "reading 2")
        await feed.stop()
        await hub.close_all()
        return transport

    asyncio.run(asyncio.wait_for(scenario(), 30))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]  # one per outage
    assert "unreachable" in warnings[0].getMessage()
    assert "lost MQTT broker" in warnings[1].getMessage()


def test_feed_with_nothing_listening_keeps_trying_quietly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(feed_module, "RECONNECT_MIN_S", 0.01)
    monkeypatch.setattr(feed_module, "RECONNECT_MAX_S", 0.05)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused

        async def scenario() -> MqttLiveFeed:
            feed = MqttLiveFeed(LiveHub(), "127.0.0.1", port)
            await feed.start()
            await asyncio.sleep(0.5)
            await feed.stop()
            return feed

        feed = asyncio.run(scenario())
    assert feed.outages == 1 and not feed.connected
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
