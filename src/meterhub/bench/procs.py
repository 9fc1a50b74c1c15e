"""Child processes the cases share: publisher groups, the ingest process, the web server,
and a read-only look into the SQLite file ingest writes."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.bench import mqttload
from meterhub.bench.common import child, child_env, meterhub_argv, wait_until

PROBE_SERIAL = "BENCHPROBE"


@dataclass
class PublisherGroup:
    """Publisher processes that have prepared their messages and wait for `go`."""

    procs: list[BaseProcess]
    go: Any
    results: Any
    timeout: float
    summaries: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> float:
        """Release them all; returns the wall time of the release."""
        now = time.time()
        self.go.set()
        return now

    def collect(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.timeout + 15
        while len(self.summaries) < len(self.procs) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self.summaries.append(self.results.get(timeout=0.5))
        return self.summaries

    def rate(self) -> float | None:
        """Messages/s the publishers got acknowledged, overall."""
        done = self.collect()
        if not done:
            return None
        span = max(s["t_end"] for s in done) - min(s["t_start"] for s in done)
        return sum(s["acked"] for s in done) / span if span > 0 else None


@contextlib.contextmanager
def publishers(plans: list[mqttload.Plan], timeout: float) -> Iterator[PublisherGroup]:
    """Start one process per plan and wait until each is connected with messages ready."""
    ctx = mqttload.CTX
    go, results = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in plans]
    procs: list[BaseProcess] = [
        ctx.Process(
            target=mqttload.publish_plan, args=(plan, ready, go, results, timeout), daemon=True
        )
        for plan, ready in zip(plans, readies, strict=True)
    ]
    for proc in procs:
        proc.start()
    try:
        for ready in readies:
            if not ready.wait(60):
                raise RuntimeError("a publisher did not get ready within 60 s")
        yield PublisherGroup(procs, go, results, timeout)
    finally:
        go.set()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


def split(serials: list[str], parts: int) -> list[tuple[str, ...]]:
    """`serials` dealt into `parts` non-empty groups."""
    parts = max(1, min(parts, len(serials)))
    return [tuple(serials[i::parts]) for i in range(parts)]


# -- the ingest process -------------------------------------------------------------------
@contextlib.contextmanager
def ingest_process(
    broker_url: str, db_path: Path, workdir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`meterhub ingest` on `broker_url` into a SQLite file, stopped on exit."""
    env = child_env(DATABASE_URL=f"sqlite:///{db_path}", METERHUB_DATA_DIR=str(workdir))
    with child(
        meterhub_argv("ingest", "--broker", broker_url), env, workdir / "ingest.log"
    ) as proc:
        yield proc


def db_scalar(db_path: Path, sql: str, *args: Any) -> Any:
    """One value from the SQLite file (None while the file or table does not exist)."""
    if not db_path.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as conn:
            row = conn.execute(sql, args).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def stored_readings(db_path: Path) -> int:
    """ingest's running total of stored readings (O(1), for polling)."""
    value = db_scalar(
        db_path, "SELECT value FROM ingest_counters WHERE name = ?", "readings_stored"
    )
    return int(value or 0)


def rejected(db_path: Path) -> int:
    """Dead letters ingest wrote (the benchmark's messages are all valid: must be 0)."""
    return int(db_scalar(db_path, "SELECT count(*) FROM ingest_rejects") or 0)


def rows_of_others(db_path: Path, serial: str = PROBE_SERIAL) -> int:
    """Readings in the table that are not the probe's (the loss check)."""
    return int(
        db_scalar(
            db_path,
            "SELECT count(*) FROM readings r JOIN devices d ON d.id = r.device_id "
            "WHERE d.serial_number != ?",
            serial,
        )
        or 0
    )


def wait_ingest_ready(
    host: str, port: int, db_path: Path, proc: subprocess.Popen[bytes], timeout: float = 60
) -> int:
    """Publish probe readings until ingest has stored one (so its subscription is live);
    returns how many probe readings are stored."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-probe", protocol=mqtt.MQTTv311
    )
    client.connect(host, port)
    client.loop_start()
    sent = 0
    try:

        def stored() -> bool:
            nonlocal sent
            if proc.poll() is not None:
                raise RuntimeError(f"ingest exited with {proc.returncode}")
            count = db_scalar(
                db_path,
                "SELECT count(*) FROM readings r JOIN devices d ON "
                "d.id = r.device_id WHERE d.serial_number = ?",
                PROBE_SERIAL,
            )
            if count:
                return True
            sent += 1
            payload = mqttload.reading(PROBE_SERIAL, sent, time.time() - 3600 + sent)
            client.publish(f"meter/{PROBE_SERIAL}/data", orjson.dumps(payload), qos=1)
            time.sleep(0.2)
            return False

        wait_until(stored, timeout, "ingest to store a probe reading")
        time.sleep(0.5)  # let probes still in flight land before counting
        return int(db_scalar(db_path, "SELECT count(*) FROM readings") or 0)
    finally:
        client.disconnect()
        client.loop_stop()


# -- the web server -----------------------------------------------------------------------
@contextlib.contextmanager
def web_process(
    db_path: Path, port: int, broker_port: int, workdir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`meterhub web` on 127.0.0.1:`port` (API, /ws, pages), its live feed subscribed to the
    broker on `broker_port`: what users run, not a bench-only server."""
    env = child_env(
        DATABASE_URL=f"sqlite:///{db_path}",
        METERHUB_DATA_DIR=str(workdir),
        SESSION_SECRET="bench-" + "x" * 40,
        MQTT_BROKER_URL=f"mqtt://127.0.0.1:{broker_port}",
    )
    argv = meterhub_argv("web", "--host", "127.0.0.1", "--port", str(port))
    with child(argv, env, workdir / f"web-{port}.log") as proc:

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the web server exited with {proc.returncode}; see "
                    f"{workdir / f'web-{port}.log'}"
                )
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(up, 60, "the web server to answer /healthz")
        yield proc
