"""The real pipeline for end-to-end tests: a private Mosquitto (`mosquitto`, from
tests/support.py), `meterhub ingest` as a child process (killable), and
database checks: every reading once, no seq gap, rollups equal a recomputation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psutil
import pytest
from sqlalchemy import select, text

from meterhub.db.models import Device, Rollup15m
from tests.support import CI, Mosquitto, wait_for
from tests.support import mosquitto as mosquitto  # the fixture, for the tests here
from tests.telemetry.rollup_reference import reference_aggregate


class Ingest:
    """`python -m meterhub ingest` against a broker, as its own process."""

    def __init__(self, broker_url: str, database_url: str, data_dir: Path) -> None:
        self.argv = [sys.executable, "-m", "meterhub", "ingest", "--broker", broker_url]
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "METERHUB_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "INFO",
        }
        self.log = data_dir / "ingest.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1
        wait_for(
            lambda: self.log.read_text().count("ingest connected") >= self.starts,
            20,
            f"ingest did not connect; see {self.log}",
        )

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no last commit, no acknowledgement."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self.proc = None

    def kill_writer(self) -> int:
        """SIGKILL the writer child; the receiver must notice and exit (its exit code)."""
        assert self.proc is not None
        children = psutil.Process(self.proc.pid).children()
        assert len(children) == 1, children
        children[0].kill()
        code = self.proc.wait(15)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


T0 = int(time.time()) // 3600 * 3600 - 86400
"""Readings start a day ago, on the hour: inside ingest's late window (30 days)."""


def reading(serial: str, seq: int) -> bytes:
    return orjson.dumps(
        {
            "serial_number": serial,
            "seq": seq,
            "timestamp": T0 + seq,
            "voltage": 230.0 + (seq % 7) / 10,
            "current": 1.5,
            "power": 345.0,
            "energy": round(10 + seq * 0.0001, 4),
            "frequency": 50.0,
            "pf": 0.98,
        }
    )


class Publisher(threading.Thread):
    """One QoS 1 publisher of `count` readings with seq 1.., `rate` a second; counts what
    the broker acknowledged. paho queues what it cannot send while the broker is away."""

    def __init__(self, port: int, serial: str, count: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.serial = serial
        self.count, self.rate = count, rate
        self.acked = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"e2e-pub-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, *args: Any) -> None:
        self.acked += 1

    def run(self) -> None:
        start = time.monotonic()
        for seq in range(1, self.count + 1):
            self.client.publish(f"meter/{self.serial}/data", reading(self.serial, seq), qos=1)
            ahead = seq / self.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def counter(ctx: Any, name: str) -> int:
    with ctx.engine.connect() as conn:
        value = conn.execute(
            text("SELECT value FROM ingest_counters WHERE name = :n"), {"n": name}
        ).scalar()
    return int(value or 0)


@pytest.fixture
def ingest(mosquitto: Mosquitto, ctx: Any, db_url: str, tmp_path: Path) -> Iterator[Ingest]:
    """Ingest into the test database (migrated by `ctx`), connected to `mosquitto`."""
    process = Ingest(mosquitto.url, db_url, tmp_path / "ingest")
    process.start()
    try:
        yield process
    finally:
        process.stop()
        if CI:
            print(process.log.read_text()[-2000:])


# -- database checks ------------------------------------------------------------------------
def seqs(ctx: Any, serial: str) -> list[int]:
    """The seq of every stored reading of `serial`, in time order."""
    with ctx.engine.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT r.seq FROM readings r JOIN devices d ON d.id = r.device_id "
                    "WHERE d.serial_number = :s ORDER BY r.ts"
                ),
                {"s": serial},
            )
        ]


def contiguous(values: list[int]) -> bool:
    return bool(values) and sorted(values) == list(range(1, max(values) + 1))


def assert_rollups_match(ctx: Any, serial: str) -> int:
    """The stored rollups of `serial` equal a recomputation from its raw rows; returns
    the number of buckets."""
    with ctx.sessions() as db:
        device_id = db.scalar(select(Device.id).where(Device.serial_number == serial))
        stored = {
            r.bucket: r
            for r in db.scalars(select(Rollup15m).where(Rollup15m.device_id == device_id))
        }
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ts, voltage, current, power, energy, frequency, pf FROM readings "
                "WHERE device_id = :d ORDER BY ts"
            ),
            {"d": device_id},
        ).all()
    aggs, _ = reference_aggregate([(r[0] / 1000, *r[1:]) for r in rows], None)
    assert set(stored) == set(aggs), serial
    for bucket, want in aggs.items():
        got = stored[bucket]
        for key in (
            "count",
            "energy_wh",
            "voltage_min",
            "voltage_max",
            "power_min",
            "power_max",
            "current_max",
            "pf_count",
            "frequency_count",
        ):
            assert getattr(got, key) == want[key], (serial, bucket, key)
        for key in ("voltage_sum", "current_sum", "power_sum", "pf_sum", "frequency_sum"):
            assert getattr(got, key) == pytest.approx(want[key], rel=1e-9), (serial, key)
    return len(aggs)


@pytest.fixture
def app(ctx: Any) -> Any:
    """The web app in this process (with the command and OTA routes)."""
    from meterhub.web.app import create_app
    from tests.commands.conftest import wire

    return wire(create_app(ctx=ctx))


@pytest.fixture
def web_api(admin_api: Any, ctx: Any, mosquitto: Mosquitto) -> Any:
    """An admin API client whose app publishes commands to the private broker (set once the
    app runs, so its lifespan does not also start the live feed on that broker)."""
    from meterhub.broker.url import BrokerTarget

    ctx.broker_target = BrokerTarget("127.0.0.1", mosquitto.port)
    return admin_api
