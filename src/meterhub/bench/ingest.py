"""Case `ingest`: readings stored per second through Mosquitto at QoS 1, against a bare
subscriber under the same load (the baseline), plus the embedded broker's ceiling.

Each trial gets a fresh Mosquitto (own config, free port) and a fresh SQLite file. The
publishers (paho, one process each, QoS 1) send as fast as they can; the clock runs from
their release to the moment the consumer has everything (ingest: the `readings_stored`
counter, polled every 50 ms; baseline: its last message). Loss is rows in the database
against readings published. CPU is the consumer process's user+system time over that span.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meterhub.bench import mqttload, procs
from meterhub.bench.common import (
    CaseResult,
    Size,
    Target,
    cpu_seconds,
    free_port,
    r1,
    r2,
)
from meterhub.bench.fleet import register_devices
from meterhub.bench.mosquitto import own_mosquitto

TARGETS = [
    Target("ingest_readings_per_s", 10_000, True),
    Target("ingest_batch_readings_per_s", 50_000, True),
    Target("ingest_lost", 0, False),
    Target("ingest_batch_lost", 0, False),
    Target("ingest_vs_baseline", 0.8, True),
]


@dataclass(frozen=True)
class Sizes:
    meters: int
    single_per_meter: int
    batch_per_meter: int
    batch: int
    embedded_meters: int
    embedded_per_meter: int
    publishers: int
    timeout: float
    rounds: int  # trials per consumer; the best counts (for ingest and baseline alike)


SIZES: dict[Size, Sizes] = {
    "tiny": Sizes(10, 20, 40, 10, 10, 10, 2, 40, 1),
    "quick": Sizes(1000, 30, 100, 50, 200, 20, 2, 60, 1),
    "full": Sizes(1000, 200, 500, 50, 500, 40, 2, 180, 2),
}


@dataclass
class Trial:
    readings: int
    done: int
    seconds: float
    cpu_pct: float | None
    publish_msgs_per_s: float | None
    broker_cpu_pct: float | None = None
    lost: int | None = None
    receiver_cpu_pct: float | None = None  # ingest's MQTT receiver alone (writer = the rest)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def plans(
    host: str, port: int, serials: list[str], per_meter: int, batch: int, publishers: int
) -> list[mqttload.Plan]:
    start = time.time() - per_meter * 10.0 - 86400
    return [
        mqttload.Plan(host, port, group, per_meter, batch, start_ts=start)
        for group in procs.split(serials, publishers)
    ]


def bare_trial(
    host: str,
    port: int,
    broker_pid: int | None,
    the_plans: list[mqttload.Plan],
    timeout: float,
    subscriber: Callable[..., None] = mqttload.bare_subscriber,
) -> Trial:
    """The baseline: a QoS 1 subscriber that only counts, under the same load (paho, or
    with `mqttload.bare_wire_subscriber` ingest's own MQTT reader)."""
    ctx = mqttload.CTX
    messages = sum(p.messages for p in the_plans)
    readings = sum(p.readings for p in the_plans)
    ready, results = ctx.Event(), ctx.Queue()
    sub = ctx.Process(
        target=subscriber, args=(host, port, messages, ready, results, timeout + 30), daemon=True
    )
    sub.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the baseline subscriber did not subscribe within 60 s")
        with procs.publishers(the_plans, timeout) as group:
            broker0 = cpu_seconds(broker_pid) if broker_pid else 0.0
            t0 = group.start()
            summary: dict[str, Any] = results.get(timeout=timeout + 40)
            broker_s = (cpu_seconds(broker_pid) - broker0) if broker_pid else None
            pub_rate = group.rate()
    finally:
        sub.join(5)
        if sub.is_alive():
            sub.terminate()
    span = max(1e-6, summary["t_last"] - t0)
    per_message = readings / messages
    return Trial(
        readings,
        int(summary["received"] * per_message),
        span,
        100 * summary["cpu_s"] / span,
        pub_rate,
        None if broker_s is None else 100 * broker_s / span,
    )


def ingest_trial(
    host: str,
    port: int,
    broker_pid: int | None,
    the_plans: list[mqttload.Plan],
    timeout: float,
    workdir: Path,
    name: str,
    beside: Callable[[Path], contextlib.AbstractContextManager[Any]] | None = None,
) -> Trial:
    """`meterhub ingest` (its own process, SQLite) under the publishers' load; `beside`,
    given the database, runs something next to it for the trial (the alerts case)."""
    db = workdir / f"{name}.db"
    readings = sum(p.readings for p in the_plans)
    register_devices(db, sorted({s for p in the_plans for s in p.serials}))
    with (
        beside(db) if beside else contextlib.nullcontext(),
        procs.ingest_process(f"mqtt://{host}:{port}", db, workdir) as proc,
    ):
        probes = procs.wait_ingest_ready(host, port, db, proc)
        with procs.publishers(the_plans, timeout) as group:
            cpu0, own0 = cpu_seconds(proc.pid), cpu_seconds(proc.pid, children=False)
            broker0 = cpu_seconds(broker_pid) if broker_pid else 0.0
            t0 = group.start()
            target = probes + readings
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and procs.stored_readings(db) < target:
                if proc.poll() is not None:
                    raise RuntimeError(f"ingest exited with {proc.returncode}")
                time.sleep(0.05)
            span = time.time() - t0
            cpu_s = cpu_seconds(proc.pid) - cpu0
            own_s = cpu_seconds(proc.pid, children=False) - own0
            broker_s = (cpu_seconds(broker_pid) - broker0) if broker_pid else None
            pub_rate = group.rate()
        stored = procs.rows_of_others(db)
        rejected = procs.rejected(db)
    if rejected:
        raise RuntimeError(
            f"ingest refused {rejected} messages (see the ingest_rejects table in {db})"
        )
    return Trial(
        readings,
        stored,
        span,
        100 * cpu_s / span,
        pub_rate,
        None if broker_s is None else 100 * broker_s / span,
        lost=readings - stored,
        receiver_cpu_pct=100 * own_s / span,
    )


def plain_sqlite_trial(workdir: Path, the_plans: list[mqttload.Plan], name: str) -> Trial:
    """The storing baseline: the same readings as plain rows, `INSERT OR IGNORE` with
    `executemany` in transactions of 2,000 into a fresh database of the same schema and
    settings (the engine's connection), no decoding, rollups or device state. Ingest's
    batched rate against this says what its work beyond the bare insert costs."""
    from meterhub.db.engine import make_engine
    from meterhub.store.readings import READING_COLUMNS

    db = workdir / f"{name}.db"
    serials = sorted({s for p in the_plans for s in p.serials})
    register_devices(db, serials)
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT serial_number, id FROM devices").all()
        ids: dict[str, int] = {serial: device_id for serial, device_id in found}
        rows: list[tuple[Any, ...]] = []
        for plan in the_plans:
            for serial in plan.serials:
                for k in range(plan.per_meter):
                    r = mqttload.reading(serial, k + 1, plan.start_ts + k * plan.interval_s)
                    ts_ms = round((plan.start_ts + k * plan.interval_s) * 1000)
                    rows.append(
                        (
                            ids[serial],
                            ts_ms,
                            r["voltage"],
                            r["current"],
                            r["power"],
                            r["energy"],
                            r["frequency"],
                            r["pf"],
                            r["alarm"],
                            r["seq"],
                        )
                    )
        sql = (
            f"INSERT OR IGNORE INTO readings ({', '.join(READING_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(READING_COLUMNS))})"
        )
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cpu0, t0 = time.process_time(), time.perf_counter()
            for start in range(0, len(rows), 2000):
                cursor.executemany(sql, rows[start : start + 2000])
                raw.commit()
            span = time.perf_counter() - t0
            cpu_s = time.process_time() - cpu0
            stored = cursor.execute("SELECT count(*) FROM readings").fetchone()[0]
        finally:
            raw.close()
    finally:
        engine.dispose()
    return Trial(len(rows), stored, span, 100 * cpu_s / span, None, lost=len(rows) - stored)


@contextlib.contextmanager
def embedded_broker(workdir: Path) -> Iterator[tuple[str, int, int]]:
    from meterhub.broker.embedded import start_embedded_broker

    port = free_port()
    broker = start_embedded_broker(port, host="127.0.0.1", log_path=workdir / "amqtt.log")
    try:
        yield "127.0.0.1", port, broker.pid
    finally:
        broker.stop()


def run(size: Size, workdir: Path) -> CaseResult:
    s = SIZES[size]
    result = CaseResult("ingest", targets=TARGETS)
    serials = [f"BI{n:06d}" for n in range(s.meters)]
    trials: dict[str, Trial] = {}
    for kind, per_meter, batch, consumers in (
        ("single", s.single_per_meter, 1, ("bare", "wire", "ingest")),
        ("batch", s.batch_per_meter, s.batch, ("bare", "ingest")),
    ):
        for n in range(s.rounds):  # alternating, so that all meet the same noise
            for consumer in consumers:
                with own_mosquitto(workdir) as broker:
                    the_plans = plans(
                        broker.host, broker.port, serials, per_meter, batch, s.publishers
                    )
                    if consumer == "bare":
                        trial = bare_trial(
                            broker.host, broker.port, broker.pid, the_plans, s.timeout
                        )
                    elif consumer == "wire":
                        trial = bare_trial(
                            broker.host,
                            broker.port,
                            broker.pid,
                            the_plans,
                            s.timeout,
                            mqttload.bare_wire_subscriber,
                        )
                    else:
                        trial = ingest_trial(
                            broker.host,
                            broker.port,
                            broker.pid,
                            the_plans,
                            s.timeout,
                            workdir,
                            f"ingest-{kind}-{n}",
                        )
                key = f"{consumer}_{kind}"
                if key not in trials or trial.rate > trials[key].rate:
                    trials[key] = trial
        for n in range(s.rounds if kind == "batch" else 0):  # same rows, plain inserts
            the_plans = plans("127.0.0.1", 0, serials, per_meter, batch, s.publishers)
            trial = plain_sqlite_trial(workdir, the_plans, f"plain-sqlite-{n}")
            if "sqlite_batch" not in trials or trial.rate > trials["sqlite_batch"].rate:
                trials["sqlite_batch"] = trial
    embedded_serials = serials[: s.embedded_meters]
    with embedded_broker(workdir) as (host, port, pid):
        emb = ingest_trial(
            host,
            port,
            pid,
            plans(host, port, embedded_serials, s.embedded_per_meter, 1, s.publishers),
            s.timeout,
            workdir,
            "ingest-embedded",
        )

    bare_s, ing_s = trials["bare_single"], trials["ingest_single"]
    bare_b, ing_b = trials["bare_batch"], trials["ingest_batch"]
    result.add("ingest_readings_per_s", round(ing_s.rate), "ingest, single readings", "readings/s")
    result.add(
        "ingest_baseline_msgs_per_s",
        round(bare_s.rate),
        "baseline: bare paho subscriber, single",
        "msgs/s",
    )
    result.add(
        "ingest_vs_baseline",
        r2(ing_s.rate / bare_s.rate if bare_s.rate else None),
        "ingest / baseline (single)",
    )
    wire = trials["wire_single"]
    result.add(
        "ingest_baseline_wire_msgs_per_s",
        round(wire.rate),
        "bare subscriber on ingest's own MQTT reader, single",
        "msgs/s",
    )
    result.add(
        "ingest_vs_wire_baseline",
        r2(ing_s.rate / wire.rate if wire.rate else None),
        "ingest / that (the cost of storing)",
    )
    result.add("ingest_wire_baseline_cpu_pct", r1(wire.cpu_pct), "its CPU (single)", "%")
    result.add("ingest_lost", ing_s.lost, "lost (single)")
    result.add("ingest_cpu_pct", r1(ing_s.cpu_pct), "ingest CPU, receiver + writer (single)", "%")
    result.add(
        "ingest_receiver_cpu_pct", r1(ing_s.receiver_cpu_pct), "  of which the MQTT receiver", "%"
    )
    result.add("ingest_baseline_cpu_pct", r1(bare_s.cpu_pct), "baseline CPU (single)", "%")
    result.add(
        "ingest_broker_cpu_pct",
        r1(ing_s.broker_cpu_pct),
        "Mosquitto CPU during ingest (single)",
        "%",
    )
    result.add(
        "ingest_publish_msgs_per_s",
        r1(ing_s.publish_msgs_per_s),
        "publishers' acked rate during ingest (single)",
        "msgs/s",
    )
    result.add(
        "ingest_batch_readings_per_s",
        round(ing_b.rate),
        f"ingest, batches of {s.batch}",
        "readings/s",
    )
    result.add(
        "ingest_batch_baseline_readings_per_s",
        round(bare_b.rate),
        "baseline, batches",
        "readings/s",
    )
    result.add(
        "ingest_batch_vs_baseline",
        r2(ing_b.rate / bare_b.rate if bare_b.rate else None),
        "ingest / baseline (batch)",
    )
    plain = trials["sqlite_batch"]
    result.add(
        "ingest_batch_sqlite_rows_per_s",
        round(plain.rate),
        "baseline: plain batched SQLite inserts of the same rows",
        "rows/s",
    )
    result.add(
        "ingest_batch_vs_sqlite",
        r2(ing_b.rate / plain.rate if plain.rate else None),
        "ingest / plain inserts (batch)",
    )
    result.add("ingest_batch_lost", ing_b.lost, "lost (batch)")
    result.add(
        "ingest_batch_cpu_pct", r1(ing_b.cpu_pct), "ingest CPU, receiver + writer (batch)", "%"
    )
    result.add(
        "ingest_batch_receiver_cpu_pct",
        r1(ing_b.receiver_cpu_pct),
        "  of which the MQTT receiver",
        "%",
    )
    result.add(
        "embedded_readings_per_s",
        round(emb.rate),
        "ingest via embedded amqtt, single",
        "readings/s",
    )
    result.add("embedded_lost", emb.lost, "lost (embedded)")
    result.add("embedded_broker_cpu_pct", r1(emb.broker_cpu_pct), "amqtt CPU", "%")
    result.add("ingest_readings", ing_s.readings, "readings published (single)")
    result.add("ingest_batch_readings", ing_b.readings, "readings published (batch)")
    result.note(
        f"{len(serials)} meters, {s.publishers} publisher processes (raw-socket "
        "MQTT, QoS 1, window 1,000); publishers, Mosquitto and the consumer share "
        f"this machine's cores; best of {s.rounds} alternating trial(s) per consumer"
    )
    return result
