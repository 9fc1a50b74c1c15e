"""The firmware's own suite, run in the real MicroPython Unix port."""

from __future__ import annotations

import re

from meterhub.firmware.runner import run_suite


def test_firmware_suite_passes_in_micropython() -> None:
    proc = run_suite(capture=True)
    out = proc.stdout + proc.stderr
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    assert m, out
    assert proc.returncode == 0 and m.group(2) == "0", out
    assert int(m.group(1)) >= 40, out
