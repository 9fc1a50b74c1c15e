"""Case `memory`: resident memory of the server (`meterhub web` with its live feed and one
admin browser watching, plus `meterhub ingest`) once 10,000 devices have reported.

The devices are registered (active) first; each publishes one reading through the
benchmark's Mosquitto, and one admin browser (it sees all 10,000) watches `/ws`. The baseline is
the same processes measured idle, just before the devices report.

Each side is measured as a process tree (the process and all its descendants, e.g. ingest's
writer), so a part moved into a child process still counts. RSS is the target's measure;
PSS (shared pages split between the processes sharing them) is reported beside it because
summed RSS counts a page shared by two processes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from websockets.asyncio.client import connect

from meterhub.bench import mqttload, procs
from meterhub.bench.common import CaseResult, Size, Target, free_port, r1
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


@dataclass(frozen=True)
class Footprint:
    """Memory of a process tree, in MiB."""

    rss: float
    pss: float
    processes: int

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(
            self.rss + other.rss, self.pss + other.pss, self.processes + other.processes
        )


def tree_footprint(pid: int) -> Footprint:
    """RSS and PSS summed over `pid` and all its descendants (a process that exits while
    being measured counts as zero)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return Footprint(0.0, 0.0, 0)
    rss = pss = 0
    counted = 0
    for proc in tree:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)  # PSS is Linux-only
        counted += 1
    return Footprint(rss / 2**20, pss / 2**20, counted)


async def _watch(port: int, cookie: str, frames: list[int]) -> None:
    async with connect(
        f"ws://127.0.0.1:{port}/ws",
        max_size=2**24,
        open_timeout=30,
        additional_headers={"Cookie": f"meterhub_session={cookie}"},
    ) as ws:
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
        probes = await asyncio.to_thread(
            procs.wait_ingest_ready, broker.host, broker.port, db, ingest
        )
        res = await asyncio.to_thread(
            httpx.post,
            f"http://127.0.0.1:{port}/api/auth/login",
            timeout=30,
            json={"username": fleet.admin, "password": Fleet.password(fleet.admin)},
        )
        res.raise_for_status()
        watcher = asyncio.create_task(_watch(port, res.cookies["meterhub_session"], frames))
        try:
            await asyncio.sleep(1.0)
            idle = tree_footprint(web.pid) + tree_footprint(ingest.pid)
            plans = [
                mqttload.Plan(broker.host, broker.port, group, 1, start_ts=time.time() - 60)
                for group in procs.split(serials, s.publishers)
            ]
            t0 = time.monotonic()
            with procs.publishers(plans, s.timeout) as group:
                group.start()
                await asyncio.to_thread(_wait_stored, db, probes + s.devices, s.timeout)
            stored = procs.stored_readings(db) - probes
            refused = procs.rejected(db)
            took = time.monotonic() - t0
            await asyncio.sleep(2.0)  # let the live feed and the refresher settle
            web_mem, ingest_mem = tree_footprint(web.pid), tree_footprint(ingest.pid)
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
    total = web_mem + ingest_mem
    result.add(
        "rss_mb_10k_devices",
        r1(total.rss),
        f"server RSS ({total.processes} processes), {s.devices:,} devices reported",
        "MiB",
    )
    result.add(
        "rss_mb_web",
        r1(web_mem.rss),
        f"  meterhub web ({web_mem.processes} process(es); live feed, /ws)",
        "MiB",
    )
    result.add(
        "rss_mb_ingest",
        r1(ingest_mem.rss),
        f"  meterhub ingest ({ingest_mem.processes} process(es))",
        "MiB",
    )
    result.add("pss_mb_10k_devices", r1(total.pss), "server PSS (shared pages split)", "MiB")
    result.add("pss_mb_web", r1(web_mem.pss), "  meterhub web", "MiB")
    result.add("pss_mb_ingest", r1(ingest_mem.pss), "  meterhub ingest", "MiB")
    result.add("rss_mb_idle", r1(idle.rss), "baseline: server RSS, idle", "MiB")
    result.add("pss_mb_idle", r1(idle.pss), "baseline: server PSS, idle", "MiB")
    result.add(
        "rss_mb_per_1k_devices",
        r1((total.rss - idle.rss) / s.devices * 1000),
        "RSS growth per 1,000 devices",
        "MiB",
    )
    result.add("memory_processes", total.processes, "processes measured")
    result.add("memory_devices_stored", stored, "devices whose reading was stored")
    result.add("memory_rejected", refused, "messages ingest refused (must be 0)")
    result.add("memory_ws_frames", frames[0], "frames the admin browser got")
    result.note(
        f"{s.devices:,} registered devices published one reading each in {took:.1f} s; "
        "RSS measured 2 s after the last was stored"
    )
    return result
