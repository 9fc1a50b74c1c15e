"""Case `alerts`: single-reading ingest with the alert evaluator running 1,000 rules
beside it, against the same ingest without alerts, alternating trials (the best of each
counts). The evaluator is its own process (as under `meterhub run`) reading the same
SQLite database, with a cursor for every device, so that every reading ingest stores
during the trial is its to evaluate (it logs how many it read into Python; the database
skips those that cannot change an alert); the figure that matters is the ratio, which
must stay >= 0.9.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from meterhub.bench import ingest
from meterhub.bench.common import CaseResult, Size, Target, r2
from meterhub.bench.mosquitto import own_mosquitto
from meterhub.db.engine import make_engine
from meterhub.db.models import AlertCursor, AlertRule, Device, User

RULES = 1000
TARGETS = [Target("alerts_ingest_vs_without", 0.9, True), Target("alerts_ingest_lost", 0, False)]


def add_rules(db: Path, count: int = RULES) -> None:
    """`count` enabled rules over the bench's devices: per-device thresholds on every
    reading metric (set so that they seldom fire), daily energy, and fleet-wide offline."""
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(User).values(
                    username="bench-alerts",
                    password_hash="!",  # noqa: S106 - "!" matches no password
                    role="admin",
                    disabled=False,
                )
            )
            owner = conn.scalar(select(User.id).where(User.username == "bench-alerts"))
            ids = list(conn.scalars(select(Device.id).order_by(Device.id)))
            shapes = [
                ("power", ">", 20000.0),
                ("voltage", "<", 100.0),
                ("current", ">", 90.0),
                ("frequency", "<", 46.0),
                ("pf", "<", 0.05),
            ]
            rows: list[dict[str, Any]] = []
            for n in range(count):
                if n < 10:
                    metric, op, threshold, device = "offline", ">", 0.5, None
                elif n < 50:
                    metric, op, threshold, device = "energy_day_kwh", ">", 1e6, ids[n % len(ids)]
                else:
                    metric, op, threshold = shapes[n % len(shapes)]
                    device = ids[n % len(ids)]
                rows.append(
                    {
                        "owner_id": owner,
                        "name": f"bench {n}",
                        "device_id": device,
                        "metric": metric,
                        "op": op,
                        "threshold": threshold,
                        "for_s": 30,
                        "severity": "minor",
                        "enabled": True,
                        "tz": "Europe/Berlin",
                        "channel_ids": [],
                    }
                )
            conn.execute(insert(AlertRule), rows)
            # An evaluator in its steady state has a cursor for every device: it reads
            # every reading stored from now on, even ones with old timestamps (the
            # publishers stamp theirs a day back); without cursors it would skip them.
            conn.execute(insert(AlertCursor), [{"device_id": d, "ts": 0} for d in ids])
    finally:
        engine.dispose()


@contextlib.contextmanager
def evaluator_beside(db: Path) -> Iterator[None]:
    """1,000 rules in `db` and the alerts process running on it."""
    add_rules(db)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "LOG_LEVEL": "INFO"}
    env.pop("MQTT_BROKER_URL", None)
    log = (db.parent / f"{db.stem}-alerts.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterhub.alerts.service"], env=env, stdout=log, stderr=log
    )
    try:
        yield
        if proc.poll() is not None:
            raise RuntimeError(f"the alerts process exited with {proc.returncode}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def evaluated(db: Path) -> int | None:
    """How many readings the alerts process said it evaluated (its last log line)."""
    text = (db.parent / f"{db.stem}-alerts.log").read_text(errors="replace")
    found = re.findall(r"alerts stopped: (\d+) readings evaluated", text)
    return int(found[-1]) if found else None


def run(size: Size, workdir: Path) -> CaseResult:
    s = ingest.SIZES[size]
    result = CaseResult("alerts", targets=TARGETS)
    serials = [f"BA{n:06d}" for n in range(s.meters)]
    best: dict[str, ingest.Trial] = {}
    seen: int | None = None
    for n in range(max(2, s.rounds)):  # alternating, so that both meet the same noise
        for kind in ("without", "with"):
            with own_mosquitto(workdir) as broker:
                plans = ingest.plans(
                    broker.host, broker.port, serials, s.single_per_meter, 1, s.publishers
                )
                trial = ingest.ingest_trial(
                    broker.host,
                    broker.port,
                    broker.pid,
                    plans,
                    s.timeout,
                    workdir,
                    f"alerts-{kind}-{n}",
                    beside=evaluator_beside if kind == "with" else None,
                )
            if kind not in best or trial.rate > best[kind].rate:
                best[kind] = trial
                if kind == "with":
                    seen = evaluated(workdir / f"alerts-{kind}-{n}.db")
    without, with_rules = best["without"], best["with"]
    result.add("alerts_ingest_without_per_s", round(without.rate), "ingest, no rules", "readings/s")
    result.add(
        "alerts_ingest_with_per_s",
        round(with_rules.rate),
        f"ingest, evaluator with {RULES} rules beside it",
        "readings/s",
    )
    result.add(
        "alerts_ingest_vs_without",
        r2(with_rules.rate / without.rate if without.rate else None),
        "with / without (>= 0.9 wanted)",
    )
    result.add("alerts_ingest_lost", with_rules.lost, "lost (with rules)")
    result.add(
        "alerts_readings_evaluated",
        seen,
        "readings the evaluator read into Python by the trial's end (the database skips "
        "those that cannot change an alert)",
    )
    result.note(
        f"{len(serials)} meters, single readings, QoS 1; best of {max(2, s.rounds)} "
        "alternating trials each; the evaluator is its own process on the same SQLite file"
    )
    return result
