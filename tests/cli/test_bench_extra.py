"""psutil comes with the `bench` extra: without it every command but `meterhub bench`
still works, and `meterhub bench` says what to install."""

from __future__ import annotations

import subprocess
import sys

# Runs in a fresh interpreter where `import psutil` fails as if it were not installed.
WITHOUT_PSUTIL = """
import sys
sys.modules["psutil"] = None
from typer.testing import CliRunner
from meterhub.cli.main import app
runner = CliRunner()
for args in (["--help"], ["bench", "--quick"]):
    result = runner.invoke(app, args)
    print(args[0], result.exit_code, repr(result.output))
"""


def test_cli_loads_without_psutil_and_bench_names_the_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PSUTIL],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    help_line, bench_line = done.stdout.strip().splitlines()
    assert help_line.startswith("--help 0 ")
    assert bench_line.startswith("bench 2 ")
    assert "pip install 'meterhub[bench]'" in bench_line
