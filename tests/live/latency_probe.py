"""Measure publish-to-browser latency of the live feed (not a test; prints figures).

    .venv/bin/python -m tests.live.latency_probe --clients 50 --rate 1000 --devices 200

Starts the web app (uvicorn, own process, temp SQLite, live hooks, Mosquitto at
127.0.0.1:1883), connects N WebSocket clients as an admin, publishes readings at the given
rate with QoS 0 (each carrying its publish time as `timestamp`), and reports the latency
from publish to receipt (p50/p90/p99/max), messages per frame and the server's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import connect


def serve(db: str, port: int) -> None:
    import uvicorn

    from meterhub.broker.url import BrokerTarget
    from meterhub.config import load_settings
    from meterhub.live.lifespan import start_live, stop_live
    from meterhub.live.ws import router
    from meterhub.web.app import build_context, create_app

    settings = load_settings(
        {"DATABASE_URL": f"sqlite:///{db}", "METERHUB_DATA_DIR": str(Path(db).parent)}
    )
    ctx = build_context(settings)
    ctx.broker_target = BrokerTarget("127.0.0.1", 1883)
    app = create_app(ctx=ctx, start_hooks=[start_live], stop_hooks=[stop_live])
    app.include_router(router)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def seed(db: str, devices: list[str]) -> None:
    from meterhub.config import load_settings
    from meterhub.db.migrate import upgrade
    from meterhub.services import devices as device_service
    from meterhub.services import users
    from meterhub.web.app import build_context

    ctx = build_context(
        load_settings(
            {"DATABASE_URL": f"sqlite:///{db}", "METERHUB_DATA_DIR": str(Path(db).parent)}
        )
    )
    upgrade(ctx.engine)
    with ctx.sessions() as s:
        users.create(s, None, "probe", "probe-pass-12345", role="admin")
        for serial in devices:
            device_service.create(s, None, serial)
        s.commit()
    ctx.engine.dispose()


async def clients(
    n: int, url: str, origin: str, cookie: str, total: int, duration: float
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    frames = 0
    messages = 0
    stop_at = time.time() + duration + 5

    async def one() -> None:
        nonlocal frames, messages
        async with connect(
            url,
            additional_headers={"Cookie": f"meterhub_session={cookie}", "Origin": origin},
            max_queue=None,
        ) as ws:
            while time.time() < stop_at:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    continue
                now = time.time()
                batch = orjson.loads(raw)
                frames += 1
                for msg in batch:
                    if msg["type"] == "reading":
                        messages += 1
                        sent = datetime.fromisoformat(msg["ts"]).timestamp()
                        latencies.append(now - sent)

    await asyncio.gather(*(one() for _ in range(n)))
    return latencies, frames, messages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000.0, help="readings per second")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    import psutil

    tag = uuid.uuid4().hex[:6].upper()
    serials = [f"LAT{tag}{i:04d}" for i in range(args.devices)]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "probe.db")
        seed(db, serials)
        port = 20000 + os.getpid() % 20000
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.live.latency_probe", "--serve", db, str(port)]
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            time.sleep(1.0)  # the feed subscribes
            res = httpx.post(
                base + "/api/auth/login", json={"username": "probe", "password": "probe-pass-12345"}
            )
            cookie = res.cookies["meterhub_session"]
            pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
            pub.connect("127.0.0.1", 1883)
            pub.loop_start()
            proc = psutil.Process(server.pid)

            async def run() -> tuple[list[float], int, int, float]:
                task = asyncio.create_task(
                    clients(
                        args.clients, f"ws://127.0.0.1:{port}/ws", base, cookie, 0, args.seconds
                    )
                )
                await asyncio.sleep(1.0)
                proc.cpu_percent(None)
                interval = 1.0 / args.rate
                start = time.monotonic()
                sent = 0
                while time.monotonic() - start < args.seconds:
                    due = int((time.monotonic() - start) / interval)
                    while sent < due:
                        serial = serials[sent % len(serials)]
                        body = {
                            "voltage": 230.0,
                            "current": 1.0,
                            "power": float(sent),
                            "energy": 1.0,
                            "timestamp": time.time(),
                        }
                        pub.publish(f"meter/{serial}/data", orjson.dumps(body), qos=0)
                        sent += 1
                    await asyncio.sleep(0.001)
                cpu = proc.cpu_percent(None)
                latencies, frames, messages = await task
                return latencies, frames, messages, cpu

            latencies, frames, messages, cpu = asyncio.run(run())
            pub.loop_stop()
            pub.disconnect()
        finally:
            server.terminate()
            server.wait(10)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(
        f"clients={args.clients} rate={args.rate:.0f}/s devices={args.devices} "
        f"seconds={args.seconds:.0f}: {messages} readings received in {frames} frames "
        f"({messages / max(frames, 1):.1f}/frame); latency ms p50={q[49] * 1000:.1f} "
        f"p90={q[89] * 1000:.1f} p99={q[98] * 1000:.1f} max={latencies[-1] * 1000:.1f}; "
        f"server CPU {cpu:.0f}% of one core"
    )


if __name__ == "__main__":
    main()
