"""Virtual meters: the real firmware in MicroPython Unix-port processes.

Each meter is one `micropython firmware/host/virtual_meter.py` process with its
own serial number and flash directory, talking MQTT to a broker. A meter that
asks to reboot (exit code 75) is restarted, like a board would be.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from meterhub.firmware.paths import FirmwareError, firmware_dir, tool
from meterhub.firmware.runner import micropython_env

REBOOT_EXIT = 75
STOP_GRACE_S = 3.0


def parse_broker(url: str) -> tuple[str, int, str, str]:
    """mqtt://user:pass@host:port (or host:port) -> (host, port, user, password)."""
    if "://" not in url:
        url = "mqtt://" + url
    u = urlparse(url)
    if u.scheme not in ("mqtt", "tcp"):
        raise FirmwareError(f"virtual meters speak plain MQTT only, not {u.scheme}://")
    return u.hostname or "127.0.0.1", u.port or 1883, u.username or "", u.password or ""


def serial_for(i: int) -> str:
    return f"VPZEM-{i + 1:06d}"


class VirtualFleet:
    """N virtual meters; start(), poll() (restarts rebooting meters), stop()."""

    def __init__(
        self,
        meters: int,
        interval: float,
        broker_url: str,
        workdir: Path | None = None,
        fast: bool = False,
        speed: float = 1.0,
        log: Callable[[str], None] = print,
        accounts: dict[str, tuple[str, str]] | None = None,
        command_secrets: dict[str, str] | None = None,
    ) -> None:
        if meters < 1:
            raise FirmwareError("--meters must be at least 1")
        if interval <= 0:
            raise FirmwareError("--interval must be positive")
        self.meters, self.interval, self.fast, self.speed = meters, interval, fast, speed
        self.host, self.port, self.user, self.password = parse_broker(broker_url)
        self._tmp = None if workdir else tempfile.mkdtemp(prefix="meterhub-virtual-")
        self.workdir = Path(workdir or self._tmp or ".")
        self.log = log
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts = 0
        self.accounts = accounts or {}  # serial -> its own MQTT user name and password
        # serial -> the key of its signed commands (as `meterhub firmware configure` sets it)
        self.command_secrets = command_secrets or {}

    def flash_dir(self, i: int) -> Path:
        return self.workdir / serial_for(i)

    def _spawn(self, i: int) -> subprocess.Popen[bytes]:
        fw = firmware_dir()
        cmd = [
            tool("micropython"),
            str(fw / "host" / "virtual_meter.py"),
            "--flash",
            str(self.flash_dir(i)),
            "--serial",
            serial_for(i),
            "--broker",
            f"{self.host}:{self.port}",
            "--interval",
            str(self.interval),
        ]
        if self.fast:
            cmd.append("--fast")
        user, password = self.accounts.get(serial_for(i), (self.user, self.password))
        # Credentials go in the environment, not in `ps` output.
        env = micropython_env(
            extra={
                "METER_SERIAL": serial_for(i),
                "METER_SPEED": str(self.speed),
                "METER_PORTAL_PORT": str(18000 + i),
                "METER_MQTT_USER": user,
                "METER_MQTT_PASSWORD": password,
                "METER_COMMAND_SECRET": self.command_secrets.get(serial_for(i), ""),
            }
        )
        log = open(self.workdir / f"{serial_for(i)}.log", "ab")  # noqa: SIM115 - kept open by the child
        return subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for i in range(self.meters):
            self.procs[i] = self._spawn(i)
        self.log(
            f"{self.meters} virtual meter(s) -> mqtt://{self.host}:{self.port} "
            f"every {self.interval} s (flash dirs in {self.workdir})"
        )

    def poll(self) -> None:
        for i, p in list(self.procs.items()):
            rc = p.poll()
            if rc == REBOOT_EXIT:
                self.restarts += 1
                self.procs[i] = self._spawn(i)
            elif rc is not None:
                self.log(
                    f"{serial_for(i)} stopped with exit code {rc}; "
                    f"see {self.workdir / serial_for(i)}.log"
                )
                del self.procs[i]

    def stop(self) -> None:
        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


class _Stopped(Exception):
    """SIGTERM/SIGHUP arrived: leave the run loop so the meters are stopped."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl-C does. Without this the meters, which
    sit in sessions of their own (a terminal's Ctrl-C must not hit them before their
    supervisor), would outlive a supervisor stopped by `kill` or a service manager."""

    raised: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if not raised:  # a second signal must not interrupt the stopping itself
            raised.append(signum)
            raise _Stopped(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def run_virtual_meters(
    meters: int,
    interval: float,
    broker_url: str,
    workdir: Path | None = None,
    duration: float | None = None,
    fast: bool = False,
    speed: float = 1.0,
    log: Callable[[str], None] = print,
    accounts: dict[str, tuple[str, str]] | None = None,
) -> int:
    """Run N virtual meters until Ctrl-C, SIGTERM or SIGHUP (or `duration` seconds);
    every meter process is ended before this returns. Returns the restarts seen.
    `accounts` (serial -> MQTT user name, password) gives each meter its own login."""
    fleet = VirtualFleet(meters, interval, broker_url, workdir, fast, speed, log, accounts)
    end = None if duration is None else time.monotonic() + duration
    with _stop_on_signals():
        try:
            fleet.start()
            while fleet.procs and (end is None or time.monotonic() < end):
                fleet.poll()
                time.sleep(0.2)
        except (KeyboardInterrupt, _Stopped):
            log("stopping virtual meters")
        finally:
            fleet.stop()
    return fleet.restarts
