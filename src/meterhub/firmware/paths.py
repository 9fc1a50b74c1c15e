"""Where the firmware sources, the download cache and the build output live."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class FirmwareError(Exception):
    """A tooling failure with a one-line message a person can act on."""


def repo_root() -> Path:
    """The checkout holding ``firmware/`` (METERHUB_REPO overrides)."""
    env = os.environ.get("METERHUB_REPO")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "firmware" / "lib" / "app.py").exists():
            return parent
    raise FirmwareError(
        "firmware sources not found: run from a meterhub checkout or set METERHUB_REPO"
    )


def firmware_dir() -> Path:
    return repo_root() / "firmware"


def cache_dir() -> Path:
    return firmware_dir() / ".cache"


def dist_dir() -> Path:
    return repo_root() / "dist" / "firmware"


def tool(name: str) -> str:
    """Path of a console script: next to the running Python first, then PATH."""
    import sys

    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise FirmwareError(f"'{name}' not found: install meterhub[firmware] / meterhub[dev]")
    return found
