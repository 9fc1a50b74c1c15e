"""Helpers the whole suite shares: free ports, polling, service checks and a private
Mosquitto. One copy here, imported everywhere (fixtures in conftest.py files wrap these)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CI = os.environ.get("CI") == "true"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def require(ok: bool, reason: str) -> None:
    """Skip with `reason` when a service is missing; under CI=true that is a failure."""
    if not ok:
        if CI:
            pytest.fail(f"{reason} (CI=true: required)")
        pytest.skip(reason)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port (within half a second)."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A localhost TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    check: Callable[[], Any],
    timeout: float = 10.0,
    message: str = "condition",
    step: float = 0.05,
) -> Any:
    """Poll `check` until it returns something truthy and return that; fail with
    `message` after `timeout` seconds. Checked once more at the deadline, so a slow
    machine that gets there just in time still passes."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(step)


class Mosquitto:
    """A private Mosquitto on a free localhost port, which a test may stop and restart.

    `max_queued_messages 100000` (Debian's 1000 drops QoS 1 messages for a lagging
    subscriber), a wide in-flight window (ingest acknowledges after its commit, in batches)
    and, unless `persistent` is False, a store (a restarted broker still holds what it
    queued)."""

    def __init__(self, tmp: Path, persistent: bool = True) -> None:
        self.port = free_port()
        tmp.mkdir(parents=True, exist_ok=True)
        self.conf = tmp / "mosquitto.conf"
        store = (
            f"persistence true\npersistence_location {tmp}/\nautosave_interval 1\n"
            if persistent
            else "persistence false\n"
        )
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            "max_queued_messages 100000\nmax_inflight_messages 1000\n"
            + store
            + ("user root\n" if os.geteuid() == 0 else "")
            # as root, Mosquitto would switch to its own user, which
            # cannot write its store into pytest's private tmp dir
        )
        self.log = tmp / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(lambda: port_open(self.port), 10, f"mosquitto did not start; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A running private Mosquitto (skipped when not installed, except under CI=true).
    Import it into a conftest.py to use it there."""
    require(os.path.exists(MOSQUITTO), f"{MOSQUITTO} is not installed")
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
