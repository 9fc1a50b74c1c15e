"""`meterhub simulate --firmware` stopped with SIGTERM (or SIGINT) leaves no virtual
meter behind: the meters sit in sessions of their own, so only their supervisor
can end them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _meters_under(tmp: Path) -> list[int]:
    """PIDs of running processes whose command line mentions `tmp` (the flash dirs)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(tmp) in cmd and "virtual_meter" in cmd and state != "Z":
            pids.append(int(d.name))
    return pids


def test_simulate_firmware_ends_its_meters_on_sigterm(tmp_path: Path) -> None:
    meterhub = Path(sys.executable).parent / "meterhub"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen(
        [
            str(meterhub),
            "simulate",
            "--firmware",
            "--meters",
            "2",
            "--interval",
            "1",
            "--broker",
            "mqtt://127.0.0.1:9",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        end = time.monotonic() + 30
        while len(_meters_under(tmp_path)) < 2 and time.monotonic() < end:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        assert len(_meters_under(tmp_path)) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert _meters_under(tmp_path) == []
    finally:
        for pid in _meters_under(tmp_path):  # only if the test failed: do not leak them
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
