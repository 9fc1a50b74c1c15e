"""Case `latency`: publish-to-browser delay through Mosquitto, the web process's live feed
and `/ws`, at a steady rate, with 50 WebSocket clients logged in as different users.

The publisher stamps each reading's `timestamp` with its publish time (epoch seconds,
ms resolution); a client subtracts it from the arrival time of the frame (the hub sends
`ts` with milliseconds, truncated: figures may read up to 1 ms high). The baseline is a
bare MQTT subscriber (paho, QoS 0, its own process) timing the same publishes: the part of
the delay that is the broker's. A second phase adds one slow admin client (sees every
device, tiny receive buffer, reads one frame a second) and measures the others again.
Ingest runs too (its own process), as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from meterhub.bench import mqttload, procs
from meterhub.bench.common import (
    CaseResult,
    Size,
    Target,
    cpu_seconds,
    free_port,
    percentile,
    r1,
    r2,
)
from meterhub.bench.fleet import Fleet, make_fleet
from meterhub.bench.mosquitto import own_mosquitto

TARGETS = [
    Target("latency_p99_ms", 50, False),
    Target("latency_slow_client_p99_ms", 50, False),
]
SLOW_RCVBUF = 4096
SLOW_READ_EVERY_S = 1.0


@dataclass(frozen=True)
class Sizes:
    devices: int
    users: int
    per_user: int
    rate: float
    phase_s: float
    warmup_s: float


SIZES: dict[Size, Sizes] = {
    "tiny": Sizes(20, 3, 5, 100, 1.0, 0.5),
    "quick": Sizes(1000, 50, 20, 1000, 6, 2),
    "full": Sizes(1000, 50, 20, 1000, 15, 3),
}


@dataclass
class Clients:
    samples: list[float] = field(default_factory=list)
    frames: int = 0
    recording: bool = False
    ready: set[str] = field(default_factory=set)


def _arrival_delay_ms(now: float, ts: str) -> float:
    return (now - datetime.fromisoformat(ts).timestamp()) * 1000


async def _client(url: str, name: str, cookie: str, box: Clients) -> None:
    async with connect(
        url,
        additional_headers={"Cookie": f"meterhub_session={cookie}"},
        max_size=2**22,
        open_timeout=30,
    ) as ws:
        async for frame in ws:
            now = time.time()
            box.frames += 1
            for msg in orjson.loads(frame):
                if msg.get("type") != "reading":
                    continue
                box.ready.add(name)
                if box.recording:
                    box.samples.append(_arrival_delay_ms(now, msg["ts"]))


async def _slow_client(port: int, cookie: str, box: Clients) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    ws: ClientConnection
    async with connect(
        f"ws://127.0.0.1:{port}/ws",
        sock=sock,
        max_queue=1,
        max_size=2**24,
        additional_headers={"Cookie": f"meterhub_session={cookie}"},
        open_timeout=30,
    ) as ws:
        while True:
            await ws.recv()
            box.frames += 1
            await asyncio.sleep(SLOW_READ_EVERY_S)


def _login(port: int, name: str) -> str:
    res = httpx.post(
        f"http://127.0.0.1:{port}/api/auth/login",
        timeout=30,
        json={"username": name, "password": Fleet.password(name)},
    )
    res.raise_for_status()
    return str(res.cookies["meterhub_session"])


def _paced(
    host: str, port: int, serials: list[str], rate: float, seconds: float, baseline: bool
) -> dict[str, Any]:
    """Run the paced publisher (and the MQTT baseline subscriber); blocking."""
    ctx = mqttload.CTX
    results = ctx.Queue()
    sub = None
    if baseline:
        ready = ctx.Event()
        sub = ctx.Process(
            target=mqttload.bare_subscriber,
            daemon=True,
            args=(host, port, 10**9, ready, results, seconds + 1.0, 0, True),
        )
        sub.start()
        if not ready.wait(30):
            raise RuntimeError("the baseline subscriber did not subscribe")
    pub = ctx.Process(
        target=mqttload.publish_paced,
        daemon=True,
        args=(host, port, tuple(serials), rate, seconds, results),
    )
    pub.start()
    out: dict[str, Any] = {}
    try:
        for _ in range(2 if baseline else 1):
            got = results.get(timeout=seconds + 60)
            out[got["kind"]] = got
    finally:
        for proc in (pub, sub):
            if proc is not None:
                proc.join(5)
                if proc.is_alive():
                    proc.terminate()
    return out


async def _measure(size: Size, workdir: Path) -> CaseResult:
    s = SIZES[size]
    result = CaseResult("latency", targets=TARGETS)
    serials = [f"BL{n:06d}" for n in range(s.devices)]
    db = workdir / "latency.db"
    fleet = make_fleet(db, serials, s.users, s.per_user)
    port = free_port()
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(own_mosquitto(workdir))
        web = stack.enter_context(procs.web_process(db, port, broker.port, workdir))
        stack.enter_context(procs.ingest_process(broker.url, db, workdir))
        cookies = {name: await asyncio.to_thread(_login, port, name) for name in fleet.users}
        box = Clients()
        url = f"ws://127.0.0.1:{port}/ws"
        tasks = [
            asyncio.create_task(_client(url, name, cookie, box)) for name, cookie in cookies.items()
        ]
        try:
            # Warm up until every client has had a reading (the feed is subscribed).
            await asyncio.to_thread(
                _paced, broker.host, broker.port, serials, s.rate, s.warmup_s, False
            )
            deadline = time.monotonic() + 30
            while len(box.ready) < len(cookies) and time.monotonic() < deadline:
                await asyncio.to_thread(
                    _paced, broker.host, broker.port, serials, s.rate, 1.0, False
                )
            if len(box.ready) < len(cookies):
                raise RuntimeError(
                    f"only {len(box.ready)} of {len(cookies)} clients got readings within 30 s"
                )
            # Phase A: everyone reads promptly.
            box.recording, cpu0 = True, cpu_seconds(web.pid)
            t0 = time.monotonic()
            run_a = await asyncio.to_thread(
                _paced, broker.host, broker.port, serials, s.rate, s.phase_s, True
            )
            web_cpu = 100 * (cpu_seconds(web.pid) - cpu0) / (time.monotonic() - t0)
            await asyncio.sleep(0.3)
            box.recording = False
            normal, box.samples = box.samples, []
            # Phase B: one slow admin client joins.
            slow = Clients()
            admin_cookie = await asyncio.to_thread(_login, port, fleet.admin)
            tasks.append(asyncio.create_task(_slow_client(port, admin_cookie, slow)))
            await asyncio.sleep(1.0)
            box.recording = True
            run_b = await asyncio.to_thread(
                _paced, broker.host, broker.port, serials, s.rate, s.phase_s, False
            )
            await asyncio.sleep(0.3)
            box.recording = False
            with_slow = box.samples
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
    sent_a = run_a["paced"]["sent"]
    expected = sent_a * s.users * s.per_user / s.devices
    base = run_a.get("subscriber", {})
    result.add("latency_p50_ms", r1(percentile(normal, 50)), "publish -> browser p50", "ms")
    result.add("latency_p99_ms", r1(percentile(normal, 99)), "publish -> browser p99", "ms")
    result.add("latency_max_ms", r1(max(normal) if normal else None), "max", "ms")
    result.add(
        "latency_mqtt_p50_ms",
        r1(base.get("p50_ms")),
        "baseline: publish -> bare MQTT subscriber p50",
        "ms",
    )
    result.add("latency_mqtt_p99_ms", r1(base.get("p99_ms")), "baseline p99", "ms")
    result.add(
        "latency_slow_client_p50_ms",
        r1(percentile(with_slow, 50)),
        "p50 of the others with a slow client",
        "ms",
    )
    result.add(
        "latency_slow_client_p99_ms",
        r1(percentile(with_slow, 99)),
        "p99 of the others with a slow client",
        "ms",
    )
    result.add("latency_slow_client_frames", slow.frames, "frames the slow client read")
    result.add("latency_rate_per_s", r1(sent_a / s.phase_s), "readings published per s")
    result.add(
        "latency_delivered_ratio",
        r2(len(normal) / expected if expected else None),
        "readings delivered / readings due (phase A)",
    )
    result.add("latency_web_cpu_pct", r1(web_cpu), "web process CPU (phase A)", "%")
    result.add("latency_clients", len(cookies), "WebSocket clients (users)")
    result.add("latency_samples", len(normal), "samples (phase A)")
    result.note(
        f"{s.devices} devices, each user sees {s.per_user}; second phase: "
        f"{run_b['paced']['sent']} readings with one slow admin client"
    )
    return result


def run(size: Size, workdir: Path) -> CaseResult:
    return asyncio.run(_measure(size, workdir))
