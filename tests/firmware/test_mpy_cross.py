"""Every file that goes on the board compiles with mpy-cross for the ESP8266 (xtensa);
the build writes a manifest OTA can check."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from meterhub.firmware.build import build, device_sources
from meterhub.firmware.paths import firmware_dir, tool

SOURCES = [src for src, _ in device_sources()]


@pytest.mark.parametrize("src", SOURCES, ids=[p.name for p in SOURCES])
def test_compiles_for_xtensa(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.mpy"
    proc = subprocess.run(
        [tool("mpy-cross"), "-march=xtensa", "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def test_host_fakes_and_tests_are_not_uploaded() -> None:
    fw = firmware_dir()
    for src in SOURCES:
        assert fw / "host" not in src.parents and fw / "tests" not in src.parents, src


def test_build_manifest_matches_files(tmp_path: Path) -> None:
    res = build(tmp_path / "fw")
    manifest = json.loads((res.out / "manifest.json").read_text())
    assert manifest["version"] == res.version
    paths = {f["path"] for f in manifest["files"]}
    assert {"main.py", "lib/app.mpy", "lib/umqtt/simple.mpy", "lib/microdot/microdot.mpy"} <= paths
    assert "boot.py" not in paths  # the rollback code is never replaced over the air
    assert not any("host" in p or "emulator" in p for p in paths)
    for f in manifest["files"]:
        data = (res.out / f["path"]).read_bytes()
        assert len(data) == f["size"]
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
