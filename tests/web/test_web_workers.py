"""`meterhub web --workers 2` as real processes on a private Mosquitto and each database: a
reading published once reaches a WebSocket on either worker, a session made on one worker
is valid on the other, and failed logins are counted across workers.

Which worker holds a connection is read from the operating system (the worker process
that owns the accepted socket), so the server needs no test-only header."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import ClientConnection, connect

from meterhub.config import load_settings
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.launcher import serve
from meterhub.services import devices as device_service
from meterhub.services import users as user_service
from tests.support import Mosquitto, free_port, wait_for
from tests.support import mosquitto as mosquitto  # the fixture

PASSWORD = "worker-pass-1234"
TRIES = 60  # new connections until each worker holds one (the kernel picks the worker)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[int]:
        """The uvicorn worker processes (children running multiprocessing's spawn)."""
        return [
            child.pid
            for child in psutil.Process(self.proc.pid).children()
            if "spawn_main" in " ".join(child.cmdline())
        ]

    def worker_of(self, client_port: int) -> int:
        """The worker process that accepted the connection from `client_port`."""
        for pid in self.workers():
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                ours = conn.laddr and conn.laddr.port == self.port
                if ours and conn.raddr and conn.raddr.port == client_port:
                    return pid
        raise AssertionError(f"no worker holds the connection from port {client_port}")


@pytest.fixture
def server(mosquitto: Mosquitto, db_url: str, tmp_path: Path) -> Iterator[Server]:
    """Two web workers on `db_url`: PostgreSQL, and SQLite (allowed: web writes are few and
    short; WAL and the busy timeout serialise them)."""
    port = free_port()
    log = tmp_path / "web.log"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "MQTT_BROKER_URL": mosquitto.url,
        "METERHUB_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "INFO",
    }
    argv = [sys.executable, "-m", "meterhub", "web", "--workers", "2", "--host", "127.0.0.1"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*argv, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = Server(proc, port, log)
    try:
        wait_for(
            lambda: log.read_text().count("live feed: subscribed") >= 2,
            60,
            f"two workers with live feeds did not start; see {log}",
        )
        assert len(running.workers()) == 2
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def setup_account(database_url: str) -> tuple[str, str]:
    """An admin and a registered device, straight through the services."""
    name, serial = f"root{uuid.uuid4().hex[:8]}", f"WK{uuid.uuid4().hex[:10].upper()}"
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as db:
        user_service.create(db, None, name, PASSWORD, role="admin")
        device_service.create(db, None, serial)
        db.commit()
    engine.dispose()
    return name, serial


def pinned_clients(server: Server) -> dict[int, httpx.Client]:
    """One keep-alive HTTP client per worker."""
    pinned: dict[int, httpx.Client] = {}
    for _ in range(TRIES):
        client = httpx.Client(base_url=server.base, timeout=10)
        res = client.get("/healthz")
        assert res.status_code == 200, res.text
        stream = res.extensions["network_stream"]
        pid = server.worker_of(stream.get_extra_info("client_addr")[1])
        if pid in pinned:
            client.close()
        else:
            pinned[pid] = client
        if len(pinned) == 2:
            return pinned
    raise AssertionError(f"{TRIES} connections all went to {list(pinned)}")


def test_a_session_made_on_one_worker_is_valid_on_the_other_and_throttling_is_shared(
    server: Server, db_url: str
) -> None:
    name, _ = setup_account(db_url)
    (a, first), (b, second) = pinned_clients(server).items()
    assert a != b
    try:
        res = first.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert res.status_code == 200, res.text
        stream = res.extensions["network_stream"]
        assert server.worker_of(stream.get_extra_info("client_addr")[1]) == a  # still pinned
        cookie = res.cookies["meterhub_session"]
        me = second.get("/api/auth/me", headers={"Cookie": f"meterhub_session={cookie}"})
        assert me.status_code == 200, me.text
        assert me.json()["username"] == name
        # Five failures for one account from one address, spread over both workers: the
        # sixth attempt is refused on either (the limit counts rows in the database).
        other = f"nobody{uuid.uuid4().hex[:8]}"
        for client in (first, second, first, second, first):
            wrong = client.post("/api/auth/login", json={"username": other, "password": "x" * 12})
            assert wrong.status_code == 401, wrong.text
        refused = second.post("/api/auth/login", json={"username": other, "password": "x" * 12})
        assert refused.status_code == 429, refused.text
    finally:
        first.close()
        second.close()


async def ws_per_worker(server: Server, cookie: str) -> dict[int, ClientConnection]:
    """One open, greeted WebSocket per worker."""
    pinned: dict[int, ClientConnection] = {}
    headers = {"Cookie": f"meterhub_session={cookie}", "Origin": server.base}
    for _ in range(TRIES):
        ws = await connect(
            f"ws://127.0.0.1:{server.port}/ws", additional_headers=headers, open_timeout=10
        )
        pid = server.worker_of(ws.local_address[1])
        if pid in pinned:
            await ws.close()
            continue
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        hello = frame[0] if isinstance(frame, list) else frame
        assert hello["type"] == "hello", hello
        pinned[pid] = ws
        if len(pinned) == 2:
            return pinned
    raise AssertionError(f"{TRIES} WebSockets all went to {list(pinned)}")


async def first_reading(ws: ClientConnection, serial: str) -> dict[str, Any]:
    while True:
        frame = orjson.loads(await ws.recv())
        for message in frame if isinstance(frame, list) else [frame]:
            if message.get("type") == "reading" and message.get("serial") == serial:
                return dict(message)


def test_a_reading_published_once_reaches_a_websocket_on_either_worker(
    server: Server, db_url: str, mosquitto: Mosquitto
) -> None:
    name, serial = setup_account(db_url)
    login = httpx.post(
        f"{server.base}/api/auth/login", json={"username": name, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    cookie = login.cookies["meterhub_session"]

    async def scenario() -> list[dict[str, Any]]:
        sockets = await ws_per_worker(server, cookie)
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        publisher.connect("127.0.0.1", mosquitto.port)
        publisher.loop_start()
        body = {"voltage": 231.5, "current": 1.0, "power": 777.0, "energy": 12.5}
        body |= {"frequency": 50.0, "pf": 0.95}
        publisher.publish(f"meter/{serial}/data", orjson.dumps(body), qos=1).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()
        got = await asyncio.wait_for(
            asyncio.gather(*(first_reading(ws, serial) for ws in sockets.values())), 15
        )
        for ws in sockets.values():
            await ws.close()
        return list(got)

    readings = asyncio.run(scenario())
    assert [r["power"] for r in readings] == [777.0, 777.0]
    assert [r["voltage"] for r in readings] == [231.5, 231.5]


def test_run_serves_from_one_process_only(tmp_path: Path) -> None:
    """Workers are for `meterhub web`: `run` supervises ingest and a broker from its one
    process, which N uvicorn workers would each start again."""
    cfg = load_settings(
        {"METERHUB_DATA_DIR": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}
    )
    with pytest.raises(SystemExit, match="--workers is for `meterhub web`"):
        serve(cfg, host=None, port=None, ingest=True, broker=True, demo=0, workers=2)
    assert not (tmp_path / "m.db").exists()  # refused before touching anything
