"""`meterhub firmware build`: precompile the firmware to .mpy with a sha256 manifest.

Output (dist/firmware/): boot.py and main.py as source (the board runs those
by name), lib/*.mpy (firmware, umqtt, microdot) and manifest.json in the
format OTA reads: {"version", "files": [{"path", "sha256", "size"}]}. The host
fakes (firmware/host) and tests are never part of it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meterhub.firmware import deps
from meterhub.firmware.paths import FirmwareError, dist_dir, firmware_dir, tool

ROOT_SOURCES = ("boot.py", "main.py")
NOT_IN_OTA = ("boot.py",)  # holds the rollback; only `upload` replaces it


@dataclass
class BuildResult:
    out: Path
    version: str
    files: list[dict[str, object]]
    source_bytes: int

    @property
    def total_bytes(self) -> int:
        return sum(int(str(f["size"])) for f in self.files)


def firmware_version() -> str:
    text = (firmware_dir() / "lib" / "app.py").read_text()
    m = re.search(r'^VERSION = "([^"]+)"', text, re.M)
    if not m:
        raise FirmwareError("VERSION not found in firmware/lib/app.py")
    return m.group(1)


def device_sources() -> list[tuple[Path, str]]:
    """(source file, path on the board without extension change) of everything uploaded."""
    fw = firmware_dir()
    lib = deps.ensure_all()
    out = [(fw / name, name) for name in ROOT_SOURCES]
    out += [(p, f"lib/{p.name}") for p in sorted((fw / "lib").glob("*.py"))]
    out += [(p, "lib/" + p.relative_to(lib).as_posix()) for p in sorted(lib.rglob("*.py"))]
    return out


def compile_mpy(src: Path, dst: Path, march: str | None = None) -> None:
    cmd = [tool("mpy-cross"), "-o", str(dst)]
    if march:
        cmd.append(f"-march={march}")
    cmd += ["-s", src.name, str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FirmwareError(f"mpy-cross failed on {src}: {proc.stderr.strip()}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(
    out: Path | None = None,
    march: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> BuildResult:
    """Compile into `out` (default dist/firmware) and write manifest.json."""
    out = out or dist_dir()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files: list[dict[str, object]] = []
    source_bytes = 0
    for src, board_path in device_sources():
        source_bytes += src.stat().st_size
        if board_path in ROOT_SOURCES:
            dst = out / board_path
            shutil.copyfile(src, dst)
        else:
            dst = out / (board_path[:-3] + ".mpy")
            dst.parent.mkdir(parents=True, exist_ok=True)
            compile_mpy(src, dst, march)
        rel = dst.relative_to(out).as_posix()
        progress(f"  {rel} ({dst.stat().st_size} bytes)")
        if rel not in NOT_IN_OTA:
            files.append({"path": rel, "sha256": sha256(dst), "size": dst.stat().st_size})
    version = firmware_version()
    manifest = {"version": version, "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return BuildResult(out, version, files, source_bytes)
