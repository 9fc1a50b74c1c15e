"""The frozen-build manifest lists every firmware module, and a board build without its
toolchain stops with one line naming what is missing."""

from __future__ import annotations

import re
import shutil

import pytest
from typer.testing import CliRunner

from meterhub.cli.main import app
from meterhub.firmware.paths import firmware_dir


def test_manifest_freezes_every_firmware_module() -> None:
    text = (firmware_dir() / "manifest.py").read_text()
    listed = set(re.findall(r'module\("([a-z_0-9]+\.py)", base_path="lib"\)', text))
    present = {p.name for p in (firmware_dir() / "lib").glob("*.py")}
    assert listed == present


@pytest.mark.parametrize(
    ("board", "tool"), [("esp8266", "xtensa-lx106-elf-gcc"), ("esp32", "idf.py")]
)
def test_board_build_without_toolchain_says_so(board: str, tool: str, tmp_path: object) -> None:
    if shutil.which(tool):
        pytest.skip(f"{tool} is installed here")
    res = CliRunner().invoke(
        app,
        ["firmware", "build", "--frozen", "--board", board],
        env={"MICROPYTHON_SRC": "/nonexistent"},
    )
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and tool in lines[0], res.output
