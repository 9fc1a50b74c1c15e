"""File modes: the data directory and what is in it are private to the service's user.

The database, the session secret, the broker's session store, OTA bundles and the log must
not be readable by other local users whatever umask the service was started with, so every
entry point sets a private umask and tightens what an earlier run (or a copy, or a restore)
left behind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> None:
    """Files this process creates from now on are 0600, directories 0700."""
    os.umask(PRIVATE_UMASK)


def secure_data_dir(path: Path) -> None:
    """Create `path` 0700 and take group/other rights off everything inside it."""
    path.mkdir(parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            _tighten(Path(root) / name, DIR_MODE)
        for name in files:
            _tighten(Path(root) / name, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:  # removed meanwhile (a SQLite journal)
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        return  # never follow links; files of other users are not ours to change
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(stat.S_IMODE(info.st_mode) & ~0o077 | (mode & 0o700))
