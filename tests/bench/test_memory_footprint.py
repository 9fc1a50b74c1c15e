"""The memory case counts a process with all its descendants (ingest's writer, say)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from meterhub.bench.memory import Footprint, tree_footprint

PARENT = (
    "import subprocess, sys, time; "
    "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
    "print(c.pid, flush=True); time.sleep(30)"
)


def test_a_tree_is_summed_over_the_process_and_its_children() -> None:
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child_pid = 0
    try:
        assert proc.stdout is not None
        child_pid = int(proc.stdout.readline())
        time.sleep(0.2)
        both, child = tree_footprint(proc.pid), tree_footprint(child_pid)
        assert both.processes == 2 and child.processes == 1
        assert both.rss > child.rss > 1 and both.pss > child.pss > 0
        assert both.pss <= both.rss
    finally:
        if child_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child_pid, signal.SIGKILL)
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert tree_footprint(proc.pid) == Footprint(0.0, 0.0, 0)  # gone: counts as nothing


def test_footprints_add_up() -> None:
    assert Footprint(1.0, 0.5, 1) + Footprint(2.0, 1.5, 2) == Footprint(3.0, 2.0, 3)
