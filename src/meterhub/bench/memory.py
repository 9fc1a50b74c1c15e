"""Case `memory`: resident memory of the server (the web process with its live feed and one
admin browser watching, plus the ingest process) once 10,000 devices have reported.

The devices are registered (active) first; each publishes one reading through the
benchmark's Mosquitto, and one admin browser (it sees all 10,000) watches `/ws`. The baseline is
the same two processes measured idle, just before the devices report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from meterhub.bench import mqttload, procs
from meterhub.bench.common import CaseResult, Size, Target, free_port, r1, rss_mb
from meterhub.bench.fleet import Fleet, make_fleet, register_devices
from meterhub.bench.mosquitto import own_mosquitto

TARGETS = [Target("rss_mb_10k_devices", 200, False)]


@dataclass(frozen=True)
class Sizes:
    devices: int
    publishers: int
    timeout: float


SIZES: dict[Size, Sizes] = {
    "tiny": Sizes(100, 1, 30),
    "quick": Sizes(10_000, 2, 90),
    "full": Sizes(10_000, 2, 120),
}


async def _watch(port: int, cookie: str, frames: list[int]) -> None:
    async with connect(f"ws://127.0.0.1:{port}/ws", max_size=2**24, open_timeout=30,
                       additional_headers={"Cookie": f"meterhub_session={cookie}"}) as ws:
        async for _ in ws:
            frames[0] += 1


def _wait_stored(db: Path, count: int, timeout: float) -> None:
    """Until ingest has stored `count` readings (or `timeout` s passed)."""
    deadline = time.monotonic() + timeout
    while procs.stored_readings(db) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def run(size: Size, workdir: Path) -> CaseResult:
    return asyncio.run(_measure(size, workdir))


async def _measure(size: Size, workdir: Path) -> CaseResult:
    s = SIZES[size]
    result = CaseResult("memory", targets=TARGETS)
    db = workdir / "memory.db"
    fleet = make_fleet(db, [], 0, 0)
    serials = [f"BM{n:06d}" for n in range(s.devices)]
    register_devices(db, serials)
    port = free_port()
    frames = [0]
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(own_mosquitto(workdir))
        web = stack.enter_context(procs.web_process(db, port, broker.port, workdir))
        ingest = stack.enter_context(procs.ingest_process(broker.url, db, workdir))
        probes = await asyncio.to_thread(procs.wait_ingest_ready, broker.host, broker.port,
                                         db, ingest)
        res = await asyncio.to_thread(
            httpx.post, f"http://127.0.0.1:{port}/api/auth/login", timeout=30,
            json={"username": fleet.admin, "password": Fleet.password(fleet.admin)})
        res.raise_for_status()
        watcher = asyncio.create_task(_watch(port, res.cookies["meterhub_session"], frames))
        try:
            await asyncio.sleep(1.0)
            idle_web, idle_ingest = rss_mb(web.pid), rss_mb(ingest.pid)
            plans = [mqttload.Plan(broker.host, broker.port, group, 1,
                                   start_ts=time.time() - 60)
                     for group in procs.split(serials, s.publishers)]
            t0 = time.monotonic()
            with procs.publishers(plans, s.timeout) as group:
                group.start()
                await asyncio.to_thread(_wait_stored, db, probes + s.devices, s.timeout)
            stored = procs.stored_readings(db) - probes
            refused = procs.rejected(db)
            took = time.monotonic() - t0
            await asyncio.sleep(2.0)  # let the live feed and the refresher settle
            web_mb, ingest_mb = rss_mb(web.pid), rss_mb(ingest.pid)
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
    result.add("rss_mb_10k_devices", r1(web_mb + ingest_mb),
               f"web + ingest RSS, {s.devices:,} devices reported", "MiB")
    result.add("rss_mb_web", r1(web_mb), "  web process (live feed, /ws)", "MiB")
    result.add("rss_mb_ingest", r1(ingest_mb), "  ingest process", "MiB")
    result.add("rss_mb_idle", r1(idle_web + idle_ingest), "baseline: both, idle", "MiB")
    result.add("rss_mb_per_1k_devices", r1((web_mb + ingest_mb - idle_web - idle_ingest)
                                           / s.devices * 1000), "growth per 1,000 devices",
               "MiB")
    result.add("memory_devices_stored", stored, "devices whose reading was stored")
    result.add("memory_rejected", refused, "messages ingest refused (must be 0)")
    result.add("memory_ws_frames", frames[0], "frames the admin browser got")
    result.note(f"{s.devices:,} registered devices published one reading each in {took:.1f} s; "
                "RSS measured 2 s after the last was stored")
    return result
