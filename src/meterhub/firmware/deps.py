"""Third-party MicroPython modules the firmware needs, fetched on first use into
``firmware/.cache/lib`` (gitignored; never committed):

- ``umqtt/simple.py`` from PyPI's ``micropython-umqtt.simple`` sdist, through pip;
- ``microdot/`` from the ``microdot`` package installed in this environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from meterhub.firmware.paths import FirmwareError, cache_dir

UMQTT_PACKAGE = "micropython-umqtt.simple"
MICRODOT_FILES = ("__init__.py", "microdot.py")


def lib_dir() -> Path:
    return cache_dir() / "lib"


def _find_umqtt(tree: Path) -> Path | None:
    hits = sorted(tree.rglob("umqtt/simple.py"))
    return hits[0] if hits else None


def _from_archives(folder: Path, into: Path) -> Path | None:
    for archive in folder.glob("*.tar.gz"):
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    return _find_umqtt(into)


def ensure_umqtt() -> Path:
    """Path of the cached ``umqtt/simple.py``, downloading it with pip if needed."""
    target = lib_dir() / "umqtt" / "simple.py"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(prefix="meterhub-umqtt-") as tmp:
        work = Path(tmp)
        env = dict(os.environ, TMPDIR=str(work))
        # The sdist has no setup.py, so pip stops after unpacking it; --no-clean keeps
        # the unpacked tree (in TMPDIR) where the file is picked up.
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-clean",
                "--no-binary",
                ":all:",
                UMQTT_PACKAGE,
                "-d",
                str(work / "dl"),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        found = _find_umqtt(work) or _from_archives(work / "dl", work / "x")
        if found is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise FirmwareError(f"could not fetch {UMQTT_PACKAGE} with pip: {tail[0]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, target)
    return target


def ensure_microdot() -> Path:
    """Copy microdot's MicroPython-compatible core from the installed package."""
    target = lib_dir() / "microdot"
    try:
        import microdot
    except ImportError as exc:
        raise FirmwareError("microdot is not installed: pip install 'meterhub[firmware]'") from exc
    src = Path(microdot.__file__).parent
    target.mkdir(parents=True, exist_ok=True)
    for name in MICRODOT_FILES:
        if not (target / name).exists():
            shutil.copyfile(src / name, target / name)
    return target


def ensure_all() -> Path:
    ensure_umqtt()
    ensure_microdot()
    return lib_dir()
