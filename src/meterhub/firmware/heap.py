"""Find the smallest MicroPython heap on which the firmware main loop runs.

A virtual meter runs from the .mpy build (as on a board) under
`micropython -X heapsize=N` against a broker for a few readings; the search
bisects N. The Unix port is 64-bit, so objects are about twice the size they
are on an ESP8266: the figure is an upper bound for the board.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from meterhub.firmware.build import build
from meterhub.firmware.paths import firmware_dir, tool
from meterhub.firmware.runner import micropython_env


def _runs_on(heap: int, lib: Path, broker: str, readings: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="meterhub-heap-") as flash:
        cmd = [tool("micropython"), "-X", f"heapsize={heap}",
               str(firmware_dir() / "host" / "virtual_meter.py"), "--flash", flash,
               "--serial", "HEAP-1", "--broker", broker, "--interval", "0.2", "--fast"]
        env = micropython_env(lib=lib, extra={"METER_SERIAL": "HEAP-1"})
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=2 + readings * 0.2,
                           check=False)
            return False  # exited by itself: it crashed (MemoryError)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode(errors="replace")
            return "MemoryError" not in out
        finally:
            pass


def smallest_heap(broker: str, lo: int = 8_000, hi: int = 256_000, readings: int = 15) -> int:
    """Bisect to ~1 KB the smallest heap that ran `readings` readings without a MemoryError."""
    with tempfile.TemporaryDirectory(prefix="meterhub-heapbuild-") as tmp:
        lib = build(Path(tmp) / "fw").out / "lib"
        if not _runs_on(hi, lib, broker, readings):
            raise RuntimeError(f"the firmware does not run even with {hi} bytes of heap")
        while hi - lo > 1024:
            mid = (lo + hi) // 2
            if _runs_on(mid, lib, broker, readings):
                hi = mid
            else:
                lo = mid
        return hi
