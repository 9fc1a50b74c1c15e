"""How much MicroPython heap the firmware needs, scenario by scenario.

A virtual meter (the real firmware, firmware/host/virtual_meter.py) runs under
``micropython -X heapsize=N`` against an MQTT broker. With the 32-bit Unix build
from ``frozen.unix32_binary`` objects have their ESP8266 size; "frozen" runs the
modules frozen into that binary (bytecode in ROM, as on a board built with
``firmware build --frozen``), ".mpy" runs the same binary from the .mpy build
(bytecode loaded onto the heap, as after ``firmware upload``). A run passes when
it ends by itself with exit 0 (every queued reading acknowledged by the broker)
and never printed a MemoryError; the search bisects N to HEAP_STEP bytes.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meterhub.firmware.build import build
from meterhub.firmware.paths import firmware_dir, tool
from meterhub.firmware.runner import micropython_env

BUDGET = 28_672  # what CI allows: 3 KB under the ESP8266's conservative 31.8 KB
HEAP_STEP = 512
FULL_QUEUE = 2000  # the queue's documented capacity (config queue_max default)
PORTAL_PAGES = ("/", "/config", "/status", "/ip")


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    readings: int  # readings taken before the run may end
    backlog: int = 0  # readings queued before the first NTP sync
    portal: bool = False  # first boot (no config): the setup portal, whose pages are fetched
    ntp_fails: int = 0  # NTP syncs that fail before one works
    interval: float = 0.2
    timeout: float = 30.0


SCENARIOS = (
    Scenario("station", "station loop (PZEM, queue, MQTT)", readings=15),
    Scenario("portal", "setup portal (microdot)", readings=15, portal=True),
    Scenario("flush", "backlog flush after an outage (one batch)", readings=3, backlog=20),
    Scenario(
        "full-queue",
        f"full queue ({FULL_QUEUE}) stamped after a late first NTP sync, then flushed",
        readings=3,
        backlog=FULL_QUEUE,
        ntp_fails=2,
        timeout=120.0,
    ),
)


@dataclass
class RunResult:
    ok: bool
    exit_code: int | None
    output: str
    portal_status: list[int]

    @property
    def memory_error(self) -> bool:
        return "MemoryError" in self.output


def scenario(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fetch_portal(
    port: int, proc: subprocess.Popen[bytes], deadline: float, flash: Path
) -> list[int]:
    """GET each portal page once the portal listens, with the password the meter
    generated on its first boot (read from its flash); the HTTP status of each."""
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        password = json.loads((flash / "config.json").read_text())["portal_password"]
    except (OSError, ValueError, KeyError):
        password = ""
    auth = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    codes = []
    for page in PORTAL_PAGES:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}{page}", headers={"Authorization": auth}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - local
                codes.append(r.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
        except OSError:
            codes.append(0)
    return codes


def run(
    binary: str | Path,
    sc: Scenario,
    heap: int,
    broker: str,
    frozen: bool = True,
    mpy_lib: Path | None = None,
    flash: Path | None = None,
    serial: str | None = None,
) -> RunResult:
    """One run of `sc` on `heap` bytes; the flash directory is fresh unless given. The
    serial (and so the MQTT client id) is this process's own unless given, so
    measurements running side by side on one broker do not disconnect each other."""
    serial = serial or f"HEAP-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="meterhub-heap-") as tmp:
        flash = flash or Path(tmp) / "flash"
        portal_port = _free_port()
        args = [
            "--flash",
            str(flash),
            "--serial",
            serial,
            "--interval",
            str(sc.interval),
            "--fast",
            "--readings",
            str(sc.readings),
        ]
        if not sc.portal:  # without a broker there is no config: first boot, the portal
            args += ["--broker", broker]
        if sc.backlog:
            args += ["--backlog", str(sc.backlog)]
        if frozen:
            path = ".frozen"
        else:
            assert mpy_lib is not None, "a .mpy run needs the build's lib folder"
            path = f"{mpy_lib}:.frozen"  # .mpy first; asyncio stays frozen as on a stock image
        env = dict(
            os.environ,
            MICROPYPATH=path,
            METER_SERIAL=serial,
            METER_PORTAL_PORT=str(portal_port),
            METER_WIFI="down" if sc.portal else "up",
            METER_NTP_FAILS=str(sc.ntp_fails),
        )
        cmd = [str(binary), "-X", f"heapsize={heap}", "-m", "virtual_meter", *args]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        codes: list[int] = []
        if sc.portal:
            codes = _fetch_portal(portal_port, proc, time.monotonic() + sc.timeout, flash)
            if flash.is_dir():  # else the meter died before it made its flash folder
                (flash / "heap-run.stop").write_text("pages fetched\n")
        try:
            out, _ = proc.communicate(timeout=sc.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        text = out.decode(errors="replace")
        ok = (
            proc.returncode == 0
            and "heap-run: done" in text
            and "MemoryError" not in text
            and all(c == 200 for c in codes)
        )
        return RunResult(ok, proc.returncode, text, codes)


def smallest(
    binary: str | Path,
    sc: Scenario,
    broker: str,
    frozen: bool = True,
    mpy_lib: Path | None = None,
    lo: int = 8_192,
    hi: int = 131_072,
    repeat: int = 1,
) -> int | None:
    """The smallest heap (to HEAP_STEP bytes) on which `sc` passed `repeat` runs in a
    row; None if it fails even on `hi`."""

    def passes(heap: int) -> bool:
        return all(run(binary, sc, heap, broker, frozen, mpy_lib).ok for _ in range(repeat))

    if not passes(hi):
        return None
    while hi - lo > HEAP_STEP:
        mid = (lo + hi) // 2 // 256 * 256
        if passes(mid):
            hi = mid
        else:
            lo = mid
    return hi


def table(
    binary: str | Path,
    broker: str,
    names: list[str] | None = None,
    mpy: bool = True,
    repeat: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> list[tuple[Scenario, int | None, int | None]]:
    """(scenario, smallest frozen heap, smallest .mpy heap or None) for each scenario."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="meterhub-heapbuild-") as tmp:
        mpy_lib = build(Path(tmp) / "fw").out / "lib" if mpy else None
        for sc in SCENARIOS:
            if names and sc.name not in names:
                continue
            progress(f"  {sc.name}: frozen ...")
            f = smallest(binary, sc, broker, True, repeat=repeat)
            m = None
            if mpy:
                progress(f"  {sc.name}: .mpy ...")
                m = smallest(binary, sc, broker, False, mpy_lib, repeat=repeat)
            rows.append((sc, f, m))
    return rows


def _runs_on_64(heap: int, lib: Path, broker: str, readings: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="meterhub-heap-") as flash:
        cmd = [
            tool("micropython"),
            "-X",
            f"heapsize={heap}",
            str(firmware_dir() / "host" / "virtual_meter.py"),
            "--flash",
            flash,
            "--serial",
            "HEAP-1",
            "--broker",
            broker,
            "--interval",
            "0.2",
            "--fast",
            "--readings",
            str(readings),
        ]
        env = micropython_env(lib=lib, extra={"METER_SERIAL": "HEAP-1"})
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0 and b"MemoryError" not in proc.stdout


def smallest_heap(broker: str, lo: int = 8_000, hi: int = 256_000, readings: int = 15) -> int:
    """The station loop on the 64-bit Unix port from .mpy (an upper bound for a board)."""
    with tempfile.TemporaryDirectory(prefix="meterhub-heapbuild-") as tmp:
        lib = build(Path(tmp) / "fw").out / "lib"
        if not _runs_on_64(hi, lib, broker, readings):
            raise RuntimeError(f"the firmware does not run even with {hi} bytes of heap")
        while hi - lo > 1024:
            mid = (lo + hi) // 2
            if _runs_on_64(mid, lib, broker, readings):
                hi = mid
            else:
                lo = mid
        return hi
