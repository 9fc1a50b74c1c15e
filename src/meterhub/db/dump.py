"""Copy a whole database to a file and back: SQLite's online backup API, or pg_dump/psql.

The only place that knows how each database is dumped (callers handle files and archives).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from meterhub.db.engine import normalize_url
from meterhub.errors import MeterhubError

SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.sql"
PG_TIMEOUT_S = 3600


class DumpError(MeterhubError):
    """The database could not be dumped or loaded; the message says why."""


def kind(url: str) -> str:
    """`sqlite` or `postgresql`."""
    name = make_url(normalize_url(url)).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise DumpError(f"cannot back up a {name} database")
    return name


def dump_file_name(url: str) -> str:
    """The name of the dump inside a backup for this kind of database."""
    return SQLITE_FILE if kind(url) == "sqlite" else POSTGRES_FILE


def dump(url: str, out: Path) -> None:
    """Write a consistent copy of the database at `url` to `out` while it stays in use."""
    if kind(url) == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        target = sqlite3.connect(out)
        try:
            with target:
                source.backup(target)  # page by page, consistent, readers/writers go on
        finally:
            target.close()
            source.close()
        return
    _pg("pg_dump", url, ["--clean", "--if-exists", "--no-owner", "--no-privileges", "-f", str(out)])


def load(url: str, dump_path: Path, force: bool = False) -> None:
    """Replace the database at `url` with the dump (refused over a non-empty SQLite file
    unless `force`; a PostgreSQL dump drops and recreates the objects it contains)."""
    if kind(url) == "sqlite":
        path = Path(_sqlite_path(url))
        if path.exists() and path.stat().st_size > 0 and not force:
            raise DumpError(f"{path} exists; restore into a fresh data dir or pass --force")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".restoring")
        shutil.copyfile(dump_path, tmp)
        os.chmod(tmp, 0o600)
        for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        os.replace(tmp, path)
        return
    _pg("psql", url, ["-v", "ON_ERROR_STOP=1", "--single-transaction", "-q", "-f", str(dump_path)])


def _sqlite_path(url: str) -> str:
    database = make_url(normalize_url(url)).database
    if not database or database == ":memory:":
        raise DumpError("an in-memory SQLite database cannot be backed up")
    return database


def _pg(program: str, url: str, args: list[str]) -> None:
    """Run a PostgreSQL client with the URL's connection (the password via the environment,
    never the command line)."""
    if shutil.which(program) is None:
        raise DumpError(f"{program} not found; install the PostgreSQL client (postgresql-client)")
    parsed: URL = make_url(normalize_url(url))
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    conn = ["-h", parsed.host or "localhost", "-p", str(parsed.port or 5432)]
    if parsed.username:
        conn += ["-U", parsed.username]
    result = subprocess.run(
        [program, *conn, "-d", parsed.database or "postgres", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=PG_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise DumpError(f"{program} failed: {detail[-1] if detail else result.returncode}")
