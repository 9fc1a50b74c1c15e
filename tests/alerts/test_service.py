"""The alerts process as `meterhub run` starts it (`python -m meterhub.alerts.service`):
it evaluates what ingest committed and opens the alert, stops cleanly on SIGTERM, and,
started again, keeps that alert open without opening it twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from meterhub.db.models import Alert


def start(db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO"}
    env.pop("MQTT_BROKER_URL", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "meterhub.alerts.service"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(20)


def test_the_process_opens_once_across_a_restart(
    ctx: Any, settings: Any, meters: Any, make_owner: Any, make_rule: Any, tmp_path: Path
) -> None:
    owner = make_owner("boss", "admin")
    meters.add("S-1")
    make_rule(owner, metric="power", threshold=1000, clear_threshold=900)
    log = tmp_path / "alerts.log"

    def opened() -> list[Alert]:
        with ctx.sessions() as db:
            return list(db.scalars(select(Alert)))

    proc = start(settings.database_url, log)
    try:
        wait_for(lambda: "rules loaded" in log.read_text())
        meters.send("S-1", time.time(), power=1500.0)
        wait_for(lambda: len(opened()) == 1)
    finally:
        assert stop(proc) == 0
    assert "alerts stopped: 1 readings evaluated" in log.read_text()

    proc = start(settings.database_url, log)  # a restart
    try:
        wait_for(lambda: log.read_text().count("rules loaded") >= 2)
        meters.send("S-1", time.time(), power=1600.0)  # still over: no second alert
        time.sleep(2.5)
        assert [a.state for a in opened()] == ["active"]
        meters.send("S-1", time.time(), power=100.0)
        wait_for(lambda: [a.state for a in opened()] == ["resolved"])
    finally:
        assert stop(proc) == 0
