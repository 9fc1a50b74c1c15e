"""`meterhub bench soak --minutes N`: the whole system under a steady load for N minutes,
watching for leaks (not part of CI; run it before a release).

It starts `meterhub run` (embedded broker, ingest, web, two demo meters) in a scratch data
dir, `meterhub simulate` with more meters (approved as they appear), and simulated
browsers: each logs in, keeps a WebSocket open and polls the overview, device list,
charts and summaries. Every SAMPLE_S it records, per process (web, ingest, broker,
simulator), the resident memory and open files, and the database size. The report gives
the first and last sample and the growth per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import connect

from meterhub.bench.common import child, child_env, free_port, meterhub_argv, wait_until

SAMPLE_S = 15.0
PASSWORD = "soak-admin-pass-1"  # noqa: S105 - a scratch install that lives for one run


@dataclass
class Sample:
    t: float
    procs: dict[str, tuple[float, int]]  # name -> (RSS MiB, open files)
    db_mb: float


@dataclass
class Soak:
    port: int
    workdir: Path
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    frames: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def _name_of(proc: psutil.Process) -> str:
    try:
        line = " ".join(proc.cmdline())
    except psutil.Error:
        return "?"
    roles = {
        "meterhub.ingest.writer_main": "ingest-writer",
        "meterhub.ingest.main": "ingest",
        "meterhub.broker": "broker",
        "meterhub.web": "web",
        " simulate": "simulate",
        " run": "web",
    }
    for key, role in roles.items():  # the module a process runs, not its options
        if key in line:
            return role
    return str(proc.name())


def sample(roots: list[int], db: Path, t0: float) -> Sample:
    """RSS and open files of each process in the trees of `roots`, summed by role."""
    figures: dict[str, tuple[float, int]] = {}
    for pid in roots:
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in tree:
            try:
                rss = proc.memory_info().rss / 2**20
                files = proc.num_fds()
            except psutil.Error:
                continue
            name = _name_of(proc)
            old = figures.get(name, (0.0, 0))
            figures[name] = (old[0] + rss, old[1] + files)
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    return Sample(time.monotonic() - t0, figures, size / 2**20)


def _browser(soak: Soak, index: int) -> None:
    """One simulated browser: log in, keep /ws open, poll what the pages poll."""
    base = f"http://127.0.0.1:{soak.port}"
    with httpx.Client(base_url=base, timeout=30) as client:
        res = _login(client)
        if res.status_code != 200:
            soak.errors.append(f"browser {index}: login {res.status_code}")
            return
        client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        ws = threading.Thread(target=_socket, args=(soak, cookie), daemon=True)
        ws.start()
        while not soak.stop.wait(2.0):
            try:
                serials = [d["serial_number"] for d in client.get("/api/devices").json()]
                paths = ["/api/dashboard/stats", "/"]
                for serial in serials[index % max(1, len(serials)) :][:2]:
                    paths += [
                        f"/api/readings/{serial}?max_points=500",
                        f"/api/readings/{serial}/summary?period=day",
                    ]
                for path in paths:
                    if client.get(path).status_code >= 500:
                        soak.errors.append(f"5xx on {path}")
                    soak.requests += 1
            except (httpx.HTTPError, ValueError) as exc:
                soak.errors.append(f"browser {index}: {type(exc).__name__}")


def _login(client: httpx.Client) -> httpx.Response:
    """Log in like a person would: on 429 (the password-hash cap while several log in at
    once) wait as told and try again."""
    for _ in range(10):
        res = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        if res.status_code != 429:
            return res
        time.sleep(float(res.headers.get("retry-after", "2")))
    return res


def _socket(soak: Soak, cookie: str) -> None:
    async def listen() -> None:
        url = f"ws://127.0.0.1:{soak.port}/ws"
        async with connect(url, additional_headers={"Cookie": cookie}) as sock:
            while not soak.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(sock.recv(), 1.0)
                    soak.frames += 1

    try:
        asyncio.run(listen())
    except Exception as exc:  # reported, not fatal: the polling goes on
        soak.errors.append(f"websocket: {type(exc).__name__}: {exc}")


def _approve_pending(soak: Soak, client: httpx.Client) -> None:
    for device in client.get("/api/devices", params={"status": "pending"}).json():
        client.post(f"/api/devices/{device['id']}/approve")


def run(minutes: float, meters: int = 20, browsers: int = 5) -> dict[str, Any]:
    """Run the soak; returns the report (also printed as a table by the CLI)."""
    workdir = Path(tempfile.mkdtemp(prefix="meterhub-soak-"))
    port, mqtt_port = free_port(), free_port()
    db = workdir / "meterhub.db"
    env = child_env(
        METERHUB_DATA_DIR=str(workdir),
        DATABASE_URL=f"sqlite:///{db}",
        PORT=str(port),
        MQTT_BROKER_URL="embedded",
        MQTT_PORT=str(mqtt_port),
        ALLOWED_HOSTS="localhost",
    )
    soak = Soak(port=port, workdir=workdir)
    _prepare(env, db)
    samples: list[Sample] = []
    with child(
        meterhub_argv("run", "--demo", "2", "--host", "127.0.0.1"), env, workdir / "run.log"
    ) as server:
        wait_until(lambda: _healthy(port, server), 300, "meterhub run to answer /healthz")
        sim_argv = meterhub_argv(
            "simulate",
            "--meters",
            str(meters),
            "--interval",
            "2",
            "--broker",
            f"mqtt://127.0.0.1:{mqtt_port}",
            "--seed",
            "7",
        )
        with child(sim_argv, env, workdir / "simulate.log") as simulator:
            admin = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
            res = _login(admin)
            admin.headers["X-CSRF-Token"] = res.json()["csrf_token"]
            threads = [
                threading.Thread(target=_browser, args=(soak, i), daemon=True)
                for i in range(browsers)
            ]
            for thread in threads:
                thread.start()
            t0 = time.monotonic()
            deadline = t0 + minutes * 60
            while True:
                _approve_pending(soak, admin)
                samples.append(sample([server.pid, simulator.pid], db, t0))
                if time.monotonic() >= deadline:
                    break
                time.sleep(min(SAMPLE_S, max(0.0, deadline - time.monotonic())))
            soak.stop.set()
            for thread in threads:
                thread.join(10)
            admin.close()
    return _report(soak, samples, minutes, meters, browsers)


def _prepare(env: dict[str, str], db: Path) -> None:
    """A migrated database with an admin whose password needs no change."""
    from meterhub.config import load_settings
    from meterhub.db.migrate import upgrade
    from meterhub.services import users
    from meterhub.web.app import build_context

    cfg = load_settings(
        {k: v for k, v in env.items() if k in ("METERHUB_DATA_DIR", "DATABASE_URL")}
    )
    ctx = build_context(cfg)
    upgrade(ctx.engine)
    with ctx.sessions() as session:
        users.create(session, None, "admin", PASSWORD, role="admin")
        session.commit()
    ctx.engine.dispose()


def _healthy(port: int, server: Any) -> bool:
    if server.poll() is not None:
        raise RuntimeError(f"meterhub run exited with {server.returncode}")
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _report(
    soak: Soak, samples: list[Sample], minutes: float, meters: int, browsers: int
) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    # The first sample is taken once everything answers; growth is measured from the
    # second one on when there is one, after the first requests warmed the caches.
    base = samples[1] if len(samples) > 2 else first
    procs: dict[str, Any] = {}
    for name in sorted(set(first.procs) | set(last.procs)):
        start = base.procs.get(name, (0.0, 0))
        end = last.procs.get(name, (0.0, 0))
        peak = max(s.procs.get(name, (0.0, 0))[0] for s in samples)
        procs[name] = {
            "rss_mb_start": round(start[0], 1),
            "rss_mb_end": round(end[0], 1),
            "rss_mb_peak": round(peak, 1),
            "rss_mb_growth": round(end[0] - start[0], 1),
            "open_files_start": start[1],
            "open_files_end": end[1],
        }
    return {
        "minutes": minutes,
        "meters": meters + 2,
        "browsers": browsers,
        "samples": len(samples),
        "requests": soak.requests,
        "websocket_frames": soak.frames,
        "errors": soak.errors[:20],
        "error_count": len(soak.errors),
        "db_mb_start": round(base.db_mb, 2),
        "db_mb_end": round(last.db_mb, 2),
        "processes": procs,
        "workdir": str(soak.workdir),
    }


def print_report(report: dict[str, Any]) -> None:
    """The report as a table (and JSON) on stdout."""
    print(
        f"soak: {report['minutes']} min, {report['meters']} meters, {report['browsers']} "
        f"browsers, {report['requests']} requests, {report['websocket_frames']} frames, "
        f"{report['error_count']} errors"
    )
    print(f"database: {report['db_mb_start']} -> {report['db_mb_end']} MiB")
    print(
        f"{'process':<10} {'RSS MiB start':>14} {'end':>8} {'peak':>8} {'growth':>8} {'files':>10}"
    )
    for name, p in report["processes"].items():
        print(
            f"{name:<10} {p['rss_mb_start']:>14} {p['rss_mb_end']:>8} {p['rss_mb_peak']:>8} "
            f"{p['rss_mb_growth']:>8} {p['open_files_start']:>4} -> {p['open_files_end']:<4}"
        )
    print(json.dumps(report))
    if os.environ.get("METERHUB_SOAK_KEEP") != "1":
        import shutil

        shutil.rmtree(report["workdir"], ignore_errors=True)
