"""`meterhub bench ingest --workers 1,2,4 --database postgresql://...`: readings stored per
second by N shared ingest workers (``meterhub ingest --shared``) on one PostgreSQL
database, against the benchmark's Mosquitto (raised queue limits), for each N.

Each trial gets a fresh database (created next to the one `--database` names, migrated,
the meters registered, dropped afterwards) and a fresh broker; the clock runs from the
publishers' release until the ``readings_stored`` counter has them all. CPU is each
worker's receiver + writer processes over that span. The publishers, the broker, the
database and the workers share this machine's cores, so the curve shows where the
machine, not the design, stops it."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, insert, make_url, text

from meterhub.bench import mqttload, procs
from meterhub.bench.common import CaseResult, Size, child, child_env, cpu_seconds, meterhub_argv
from meterhub.bench.ingest import plans
from meterhub.bench.mosquitto import own_mosquitto
from meterhub.db.engine import make_engine
from meterhub.db.migrate import upgrade
from meterhub.db.models import DEVICE_ACTIVE, Device

SIZES: dict[Size, tuple[int, int, float]] = {  # meters, readings per meter, timeout (s)
    "tiny": (20, 20, 60),
    "quick": (1000, 30, 180),
    "full": (1000, 120, 600),
}
PUBLISHERS = 2


@contextlib.contextmanager
def fresh_database(url: str, serials: list[str]) -> Iterator[str]:
    """A new PostgreSQL database beside `url`'s, migrated, `serials` registered."""
    base = make_url(url).set(drivername="postgresql+psycopg")
    name = f"meterhub_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    new_url = base.set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(new_url)
        try:
            upgrade(engine)
            with engine.begin() as conn:
                conn.execute(
                    insert(Device),
                    [
                        {"serial_number": s, "status": DEVICE_ACTIVE, "name": f"Bench {s}"}
                        for s in serials
                    ],
                )
        finally:
            engine.dispose()
        yield new_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _scalar(url: str, sql: str, params: dict[str, Any] | None = None) -> int:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql), params or {}).scalar() or 0)
    finally:
        engine.dispose()


def trial(
    url: str, workers: int, serials: list[str], per_meter: int, timeout: float, workdir: Path
) -> dict[str, Any]:
    """N workers of one shared group storing `per_meter` single readings of each meter."""
    counter = "SELECT value FROM ingest_counters WHERE name = 'readings_stored'"
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(own_mosquitto(workdir))
        db = stack.enter_context(fresh_database(url, serials))
        env = child_env(DATABASE_URL=db, METERHUB_DATA_DIR=str(workdir))
        pids = []
        for n in range(workers):
            argv = meterhub_argv(
                "ingest", "--broker", broker.url, "--shared", "bench", "--name", f"bench{n}"
            )
            proc = stack.enter_context(child(argv, env, workdir / f"ingest-{workers}-{n}.log"))
            pids.append(proc.pid)
        engine = make_engine(db, pool_size=1)
        stack.callback(engine.dispose)

        def stored() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text(counter)).scalar() or 0)

        probes = _ready(broker.host, broker.port, workers, stored)
        the_plans = plans(broker.host, broker.port, serials, per_meter, 1, PUBLISHERS)
        readings = sum(p.readings for p in the_plans)
        with procs.publishers(the_plans, timeout) as group:
            cpu0 = [cpu_seconds(pid) for pid in pids]
            pg0, broker0 = _postgres_cpu(), cpu_seconds(broker.pid)
            psutil.cpu_percent()
            t0 = group.start()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and stored() < probes + readings:
                time.sleep(0.05)
            span = time.time() - t0
            machine = psutil.cpu_percent() * psutil.cpu_count()
            cpu = [100 * (cpu_seconds(pid) - c) / span for pid, c in zip(pids, cpu0, strict=True)]
            pg = 100 * (_postgres_cpu() - pg0) / span
            broker_cpu = 100 * (cpu_seconds(broker.pid) - broker0) / span
            publish_rate = group.rate()
        done = stored() - probes
        unique = _scalar(
            db,
            "SELECT count(*) FROM readings r JOIN devices d ON d.id = r.device_id "
            "WHERE d.serial_number NOT LIKE :probe",
            {"probe": procs.PROBE_SERIAL + "%"},
        )
    return {
        "workers": workers,
        "readings": readings,
        "stored": done,
        "rows": unique,
        "seconds": span,
        "rate": done / span if span > 0 else 0.0,
        "cpu_pct": cpu,
        "postgres_cpu_pct": pg,
        "broker_cpu_pct": broker_cpu,
        "machine_cpu_pct": machine,
        "publish_msgs_per_s": publish_rate,
    }


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL server process on this machine (other users of
    the server count too: the machine is shared)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info.get("cpu_times")
        if proc.info.get("name") in ("postgres", "postmaster") and times is not None:
            total += times.user + times.system
    return total


def _ready(
    host: str, port: int, workers: int, stored: Callable[[], int], timeout: float = 60
) -> int:
    """Publish probe readings (from as many meters as workers, round robin) until every
    worker has stored some; returns how many probe readings are stored."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-probe")
    client.connect(host, port)
    client.loop_start()
    sent = 0
    try:
        deadline = time.monotonic() + timeout
        while stored() < 4 * workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the shared ingest workers stored no probe reading in 60 s")
            sent += 1
            serial = f"{procs.PROBE_SERIAL}{sent % 8}"
            payload = mqttload.reading(serial, sent, time.time() - 3600 + sent)
            client.publish(f"meter/{serial}/data", orjson.dumps(payload), qos=1)
            time.sleep(0.05)
        time.sleep(1.0)  # let probes in flight land
        return stored()
    finally:
        client.disconnect()
        client.loop_stop()


def run(size: Size, workdir: Path, workers: list[int], database_url: str) -> CaseResult:
    meters, per_meter, timeout = SIZES[size]
    serials = [f"BS{n:06d}" for n in range(meters)]
    result = CaseResult("ingest --shared", header=["measure", "value", "", ""])
    started = time.monotonic()
    trials = [trial(database_url, n, serials, per_meter, timeout, workdir) for n in workers]
    one = next((t["rate"] for t in trials if t["workers"] == 1), None)
    for t in trials:
        n = t["workers"]
        result.add(f"shared_{n}_readings_per_s", round(t["rate"]), f"{n} worker(s)", "readings/s")
        if one:
            result.add(f"shared_{n}_vs_1", round(t["rate"] / one, 2), "  ratio to 1 worker")
        result.add(
            f"shared_{n}_cpu_pct",
            " / ".join(f"{c:.0f}" for c in t["cpu_pct"]),
            "  CPU % per worker (receiver + writer)",
        )
        result.add(f"shared_{n}_lost", t["readings"] - t["rows"], "  lost")
        result.add(
            f"shared_{n}_postgres_cpu_pct", round(t["postgres_cpu_pct"]), "  PostgreSQL CPU %"
        )
        result.add(f"shared_{n}_broker_cpu_pct", round(t["broker_cpu_pct"]), "  Mosquitto CPU %")
        result.add(
            f"shared_{n}_machine_cpu_pct",
            round(t["machine_cpu_pct"]),
            f"  whole machine CPU % (of {100 * (psutil.cpu_count() or 1)})",
        )
        result.add(
            f"shared_{n}_publish_msgs_per_s",
            round(t["publish_msgs_per_s"] or 0),
            "  publishers' acked rate",
            "msgs/s",
        )
    result.seconds = time.monotonic() - started
    result.note(
        f"{meters} meters x {per_meter} single readings, QoS 1, {PUBLISHERS} publisher "
        "processes; publishers, Mosquitto, PostgreSQL and the workers share this machine"
    )
    return result
