"""A real meterhub server (uvicorn in a thread) with the live hooks, real WebSocket
clients and real MQTT publishes to the machine's Mosquitto."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import ClientConnection, connect

from meterhub.broker.url import BrokerTarget
from meterhub.context import AppContext
from meterhub.db.models import DEVICE_PENDING, Device
from meterhub.live import access, feed, hub
from meterhub.live.lifespan import start_live, stop_live
from meterhub.live.ws import router as live_router
from meterhub.services import devices as device_service
from meterhub.services import users as user_service
from meterhub.web.app import create_app
from tests.support import port_open, require, wait_for

MOSQUITTO = ("127.0.0.1", 1883)
PASSWORD_SUFFIX = "-pass-1234"


@pytest.fixture(autouse=True)
def fast_live_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing knobs are module constants: shrink them instead of sleeping."""
    monkeypatch.setattr(access, "REFRESH_INTERVAL_S", 0.2)
    monkeypatch.setattr(feed, "RECONNECT_MIN_S", 0.1)
    monkeypatch.setattr(feed, "RECONNECT_MAX_S", 0.5)
    monkeypatch.setattr(feed, "SWEEP_INTERVAL_S", 0.1)
    monkeypatch.setattr(hub, "FLUSH_INTERVAL_S", 0.02)


def unique(prefix: str = "LV") -> str:
    """A serial (and topic id) no other test or test run uses."""
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"


@dataclass
class Browser:
    """A logged-in HTTP session (cookies + CSRF header) against the live server."""

    http: httpx.Client
    cookie: str
    user: dict[str, Any]

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, **kw)


@dataclass
class LiveServer:
    ctx: AppContext
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def origin(self) -> str:
        return self.base

    @property
    def hub(self) -> hub.LiveHub:
        found = self.ctx.live_hub
        assert isinstance(found, hub.LiveHub)
        return found

    @property
    def feed(self) -> feed.MqttLiveFeed:
        found = self.ctx.live_feed
        assert isinstance(found, feed.MqttLiveFeed)
        return found

    # -- data set-up, straight through the services -----------------------------------
    def add_user(self, name: str, role: str = "user", must_change: bool = False) -> int:
        with self.ctx.sessions() as db:
            user = user_service.create(
                db, None, name, name + PASSWORD_SUFFIX, role=role, must_change_password=must_change
            )
            db.commit()
            return user.id

    def add_device(self, serial: str, pending: bool = False) -> int:
        with self.ctx.sessions() as db:
            device = device_service.create(db, None, serial)
            if pending:
                device.status = DEVICE_PENDING
            db.commit()
            return device.id

    def assign(self, device_id: int, user_id: int) -> None:
        with self.ctx.sessions() as db:
            device = db.get(Device, device_id)
            assert device is not None
            device_service.assign(db, None, device, user_service.get(db, user_id))
            db.commit()

    def login(self, name: str) -> Browser:
        client = httpx.Client(base_url=self.base, timeout=10)
        self.clients.append(client)
        res = client.post(
            "/api/auth/login", json={"username": name, "password": name + PASSWORD_SUFFIX}
        )
        assert res.status_code == 200, res.text
        client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
        return Browser(client, res.cookies["meterhub_session"], res.json()["user"])

    def wait_subscribed(self, timeout: float = 10) -> None:
        wait_for(lambda: self.feed.subscribed.is_set(), timeout, "live feed never subscribed")


def listening_socket(sndbuf: int | None = None) -> socket.socket:
    """A bound listening socket; accepted sockets inherit its SO_SNDBUF (Linux)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@pytest.fixture
def start_server(ctx: AppContext) -> Iterator[Callable[..., LiveServer]]:
    """start_server(mqtt=True, sndbuf=None) -> a running LiveServer on a free port."""
    started: list[LiveServer] = []

    def start(mqtt: bool = True, sndbuf: int | None = None) -> LiveServer:
        if mqtt:
            require(port_open(MOSQUITTO[1]), "Mosquitto is not answering on 127.0.0.1:1883")
            ctx.broker_target = BrokerTarget(*MOSQUITTO)
        app = create_app(ctx=ctx, start_hooks=[start_live], stop_hooks=[stop_live])
        app.include_router(live_router)  # the lead wires this in create_app
        sock = listening_socket(sndbuf)
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        live = LiveServer(ctx, sock.getsockname()[1], server, thread)
        started.append(live)
        wait_for(lambda: server.started, 10, "uvicorn to start")
        if mqtt:
            live.wait_subscribed()
        return live

    yield start
    for live in started:
        for client in live.clients:
            client.close()
        live.server.should_exit = True
        live.thread.join(15)
        assert not live.thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def publisher() -> Iterator[Callable[..., None]]:
    """publish(serial, kind="data", payload=dict|str): QoS 1, not retained, to Mosquitto."""
    require(port_open(MOSQUITTO[1]), "Mosquitto is not answering on 127.0.0.1:1883")
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"lv-test-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    client.connect(*MOSQUITTO)
    client.loop_start()

    def publish(serial: str, payload: Any, kind: str = "data") -> None:
        body = payload if isinstance(payload, str | bytes) else orjson.dumps(payload)
        info = client.publish(f"meter/{serial}/{kind}", body, qos=1)
        info.wait_for_publish(5)

    yield publish
    client.disconnect()
    client.loop_stop()


def data(power: float, ts: float | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "voltage": 230.0,
        "current": 1.0,
        "power": power,
        "energy": 12.5,
        "frequency": 50.0,
        "pf": 0.95,
        **extra,
    }
    if ts is not None:
        body["timestamp"] = ts
    return body


async def open_ws(
    live: LiveServer, cookie: str | None, origin: str | None = "same", **kw: Any
) -> ClientConnection:
    headers: dict[str, str] = {}
    if cookie is not None:
        headers["Cookie"] = f"meterhub_session={cookie}"
    if origin == "same":
        headers["Origin"] = live.origin
    elif origin is not None:
        headers["Origin"] = origin
    return await connect(live.ws_url, additional_headers=headers, open_timeout=10, **kw)


class Inbox:
    """Messages received on one socket, flattened from the JSON-array frames."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    async def until(
        self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        async def loop() -> None:
            while not check(self.messages):
                frame = orjson.loads(await self.ws.recv())
                assert isinstance(frame, list), frame
                self.messages.extend(frame)

        await asyncio.wait_for(loop(), timeout)
        return self.messages

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]


def has(kind: str, serial: str, **fields: Any) -> Callable[[list[dict[str, Any]]], bool]:
    def check(messages: list[dict[str, Any]]) -> bool:
        return any(
            m["type"] == kind
            and m.get("serial") == serial
            and all(m.get(k) == v for k, v in fields.items())
            for m in messages
        )

    return check


CI = os.environ.get("CI") == "true"
