"""Integration test parts: stored readings, a private Mosquitto, an observer client that
records what reaches the broker, and a fake Emoncms server speaking its HTTP API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.context import AppContext
from meterhub.ingest.messages import decode_message
from meterhub.services import devices as device_service
from meterhub.store import TelemetryStore
from tests.e2e.conftest import Mosquitto, mosquitto, wait_for

__all__ = ["mosquitto", "wait_for"]


def add_device(ctx: AppContext, serial: str, **fields: Any) -> int:
    """An active device; returns its id."""
    with ctx.sessions() as db:
        device = device_service.create(db, None, serial, **fields)
        db.commit()
        return device.id


def store(ctx: AppContext, serial: str, ts: float, energy: float, power: float = 100.0) -> None:
    """One reading through ingest's own store (rollups and counter events included)."""
    payload = {
        "voltage": 230.0,
        "current": round(power / 230, 3),
        "power": power,
        "energy": energy,
        "frequency": 50.0,
        "pf": 0.95,
        "timestamp": ts,
    }
    TelemetryStore(ctx.engine).write(
        decode_message(f"meter/{serial}/data", json.dumps(payload).encode(), ts + 0.5)
    )


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool


@dataclass
class Observer:
    """A plain MQTT client standing in for Home Assistant: records every message."""

    client: mqtt.Client
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, topic: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def matching(self, prefix: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.topic.startswith(prefix)]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)


@pytest.fixture
def observer(mosquitto: Mosquitto) -> Iterator[Observer]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fake-home-assistant")
    obs = Observer(client)

    def on_message(c: Any, u: Any, msg: Any) -> None:
        with obs.lock:
            obs.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    client.on_message = on_message
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe([("homeassistant/#", 1), ("meterhub/#", 1)])
    client.loop_start()
    yield obs
    client.disconnect()
    client.loop_stop()


@dataclass
class Request:
    path: str
    form: dict[str, str]
    authorization: str | None


@dataclass
class FakeEmoncms:
    """Emoncms's input API on a local port: `input/post` and `input/bulk` answer `ok` (as
    Emoncms does) and are recorded; while `down`, every request gets a 503 and is
    recorded in `refused`."""

    port: int
    requests: list[Request] = field(default_factory=list)
    refused: list[Request] = field(default_factory=list)
    down: bool = False
    api_key: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/emoncms"

    def received(self) -> list[tuple[int, dict[str, float]]]:
        """Every (time, inputs) Emoncms stored, from both kinds of request."""
        out: list[tuple[int, dict[str, float]]] = []
        for req in self.requests:
            if req.path.endswith("/input/post"):
                out.append((int(req.form["time"]), json.loads(req.form["fulljson"])))
            else:
                base = int(req.form["time"])
                for row in json.loads(req.form["data"]):
                    values: dict[str, float] = {}
                    for item in row[2:]:
                        values.update(item)
                    out.append((base + row[0], values))
        return out


@pytest.fixture
def fake_emoncms() -> Iterator[FakeEmoncms]:
    server_box: dict[str, FakeEmoncms] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            fake = server_box["fake"]
            length = int(self.headers.get("content-length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            req = Request(self.path, form, self.headers.get("authorization"))
            if fake.down:
                fake.refused.append(req)
                self._answer(503, b"Service Unavailable")
                return
            if req.authorization != f"Bearer {fake.api_key}":
                self._answer(200, b"Error: Invalid API key")  # Emoncms answers 200 here too
                return
            if self.path.endswith(("/input/post", "/input/bulk")):
                fake.requests.append(req)
                self._answer(200, b"ok")
            else:
                self._answer(404, b"not found")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeEmoncms(port=server.server_address[1])
    server_box["fake"] = fake
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


def settle(seconds: float = 0.3) -> None:
    """Let messages in flight arrive (used only before asserting that something did NOT
    arrive; positive checks poll with wait_for)."""
    time.sleep(seconds)
