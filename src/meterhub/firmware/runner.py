"""Running firmware code under the MicroPython Unix port."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from meterhub.firmware import deps
from meterhub.firmware.paths import firmware_dir, tool


def micropython_env(lib: Path | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment with MICROPYPATH set: .frozen (it replaces the default path),
    the firmware (source or a build), the host fakes and the cached deps."""
    fw = firmware_dir()
    parts = [".frozen", str(lib or fw / "lib"), str(fw / "host"), str(deps.ensure_all())]
    env = dict(os.environ, MICROPYPATH=":".join(parts))
    env.update(extra or {})
    return env


def run_suite(
    filters: Sequence[str] = (), heapsize: str | None = None, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run firmware/tests/run.py; its last line is 'N passed, M failed'."""
    cmd = [tool("micropython")]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    cmd += [str(firmware_dir() / "tests" / "run.py"), *filters]
    return subprocess.run(
        cmd, env=micropython_env(), text=True, check=False, capture_output=capture, timeout=600
    )
