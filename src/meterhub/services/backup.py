"""`meterhub backup` / `meterhub restore`: one archive with everything an install needs.

A backup is a .tar.gz (mode 0600: it holds password hashes and the session secret) with
- `manifest.json`: format, meterhub version, database kind, creation time;
- the database (`database.sqlite3` from SQLite's online backup, or `database.sql` from
  pg_dump), taken while the service keeps running;
- `session_secret` (when it lives in the data dir rather than in SESSION_SECRET);
- `ota/...`: the uploaded firmware bundles.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from meterhub import __version__
from meterhub.config import SECRET_FILE_NAME, Settings
from meterhub.db import dump
from meterhub.errors import MeterhubError
from meterhub.security.files import secure_data_dir
from meterhub.services.ota import OTA_DIR

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(MeterhubError):
    """A backup could not be made or restored; the message says why."""


def create(cfg: Settings, out: Path) -> dict[str, Any]:
    """Write a backup of the configured install to `out`; returns its manifest."""
    url = cfg.database_url
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "meterhub": __version__,
        "database": dump.kind(url),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": [],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="meterhub-backup-") as tmp:
        db_file = Path(tmp) / dump.dump_file_name(url)
        dump.dump(url, db_file)
        members: list[tuple[Path, str]] = [(db_file, db_file.name)]
        secret = cfg.data_dir / SECRET_FILE_NAME
        if secret.is_file():
            members.append((secret, SECRET_FILE_NAME))
        ota_root = cfg.data_dir / OTA_DIR
        if ota_root.is_dir():
            for path in sorted(ota_root.rglob("*")):
                if path.is_file() and not path.is_symlink() and not _staging(path, ota_root):
                    members.append((path, f"{OTA_DIR}/{path.relative_to(ota_root).as_posix()}"))
        manifest["files"] = [name for _, name in members]
        manifest_file = Path(tmp) / MANIFEST
        manifest_file.write_text(json.dumps(manifest, indent=1) + "\n")
        partial = out.with_name(out.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            archive.add(manifest_file, MANIFEST, recursive=False)
            for path, name in members:
                archive.add(path, name, recursive=False)
        os.replace(partial, out)
    return manifest


def restore(cfg: Settings, backup: Path, force: bool = False) -> dict[str, Any]:
    """Restore `backup` into the configured data dir and database; returns its manifest."""
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    try:
        archive = tarfile.open(backup, mode="r:gz")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{backup} is not a meterhub backup: {exc}") from None
    with archive, tempfile.TemporaryDirectory(prefix="meterhub-restore-") as tmp:
        manifest = _manifest(archive)
        if manifest.get("database") != dump.kind(cfg.database_url):
            raise BackupError(
                f"the backup holds a {manifest.get('database')} database but DATABASE_URL "
                f"is {dump.kind(cfg.database_url)}"
            )
        staged = _extract(archive, Path(tmp), manifest)
        secure_data_dir(cfg.data_dir)
        dump.load(cfg.database_url, staged / dump.dump_file_name(cfg.database_url), force)
        for name in manifest["files"]:
            if name == dump.dump_file_name(cfg.database_url):
                continue
            target = cfg.data_dir / name
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(staged / name, target)
        secure_data_dir(cfg.data_dir)
    return manifest


def _manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = archive.getmember(MANIFEST)
        handle = archive.extractfile(member)
        manifest: dict[str, Any] = json.loads(handle.read() if handle else b"")
    except (KeyError, ValueError) as exc:
        raise BackupError(f"the archive has no valid {MANIFEST}: {exc}") from None
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), list):
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return manifest


def _extract(archive: tarfile.TarFile, into: Path, manifest: dict[str, Any]) -> Path:
    """Extract the files the manifest lists, refusing links and paths that leave `into`."""
    for name in manifest["files"]:
        parts = PurePosixPath(str(name)).parts
        if not parts or PurePosixPath(str(name)).is_absolute() or ".." in parts:
            raise BackupError(f"refusing path {name!r} in the backup")
        try:
            member = archive.getmember(str(name))
        except KeyError:
            raise BackupError(f"the backup lacks {name}, which its manifest lists") from None
        if not member.isfile():
            raise BackupError(f"refusing {name!r}: not a regular file")
        source = archive.extractfile(member)
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            if source is not None:
                while chunk := source.read(1 << 20):
                    handle.write(chunk)
    return into


def _staging(path: Path, root: Path) -> bool:
    return any(part.startswith(".upload-") for part in path.relative_to(root).parts)
