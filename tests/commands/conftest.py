"""Fixtures for the command and OTA tests: the app with these routers, devices, a control
topic listener on the machine's Mosquitto, firmware bundles built in memory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from meterhub.api.routes import commands as command_routes
from meterhub.api.routes import ota as ota_routes
from meterhub.broker.url import BrokerTarget
from meterhub.context import AppContext
from meterhub.web.app import create_app, route_table
from tests.support import port_open, require

MOSQUITTO = BrokerTarget("127.0.0.1", 1883)


def wire(app: Any) -> Any:
    """Include the command and OTA routers unless web/app.py already does."""
    served = set(route_table(app))
    if ("POST", "/api/devices/{device_id}/commands") not in served:
        app.include_router(command_routes.router)
    if ("GET", "/api/ota/bundles") not in served:
        app.include_router(ota_routes.router)
    return app


@pytest.fixture
def app(ctx: AppContext) -> Any:
    """No broker target at start-up: the app's lifespan would also start the live feed on
    it. Tests that publish set `ctx.broker_target` once the app runs (`control`)."""
    return wire(create_app(ctx=ctx))


@pytest.fixture
def serial() -> str:
    """A serial nobody else on the shared Mosquitto uses."""
    return f"CMD-{uuid.uuid4().hex[:10].upper()}"


@pytest.fixture
def device(admin_api: Any, serial: str) -> dict[str, Any]:
    res = admin_api.post("/api/devices", json={"serial_number": serial})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


class Listener:
    """Subscribes to one topic and keeps what arrives."""

    def __init__(self, topic: str, port: int = 1883) -> None:
        self.messages: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-listener-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(5), f"could not subscribe to {topic}"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.arrived:
            self.messages.append(json.loads(msg.payload))
            self.arrived.notify_all()

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        with self.arrived:
            while len(self.messages) < count and time.monotonic() < end:
                self.arrived.wait(0.1)
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def mosquitto() -> None:
    require(port_open(1883), "Mosquitto is not answering on 127.0.0.1:1883")


@pytest.fixture
def control(mosquitto: None, serial: str, ctx: AppContext, admin_api: Any) -> Iterator[Listener]:
    """What arrives on meter/<serial>/control; the app publishes to the local Mosquitto."""
    ctx.broker_target = MOSQUITTO
    listener = Listener(f"meter/{serial}/control")
    yield listener
    listener.close()


# -- bundles ----------------------------------------------------------------------------
FILES = {
    "main.py": b"print('hello')\n",
    "lib/app.mpy": os.urandom(3000),
    "lib/umqtt/simple.mpy": b"M\x06" + bytes(range(200)),
}


def manifest_for(files: dict[str, bytes], version: str = "1.2.0") -> dict[str, Any]:
    return {
        "version": version,
        "files": [
            {"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
            for p, b in files.items()
        ],
    }


def tar_gz(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, body in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return out.getvalue()


def zipped(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return out.getvalue()


def bundle_entries(
    files: dict[str, bytes] | None = None,
    version: str = "1.2.0",
    manifest: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    files = dict(FILES if files is None else files)
    doc = manifest if manifest is not None else manifest_for(files, version)
    return {
        **files,
        "boot.py": b"# not in the manifest\n",
        "manifest.json": json.dumps(doc).encode(),
    }


def upload(api: Any, data: bytes, name: str = "fw.tar.gz") -> Any:
    return api.post("/api/ota/bundles", files={"file": (name, data, "application/gzip")})
