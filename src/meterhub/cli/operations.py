"""`meterhub backup`, `meterhub restore` and `meterhub maintenance`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meterhub.cli.common import database, fail, settings
from meterhub.errors import MeterhubError


def backup(
    out: Annotated[Path, typer.Argument(help="The archive to write (.tar.gz, mode 0600).")],
) -> None:
    """Back up the database (online), the session secret and the OTA bundles to OUT."""
    from meterhub.services import backup as backups

    cfg = settings()
    with database(cfg):
        pass  # migrated and reachable, or one clear line
    try:
        manifest = backups.create(cfg, out)
    except MeterhubError as exc:
        fail(exc.message)
    typer.echo(
        f"backup written: {out} ({manifest['database']} database, "
        f"{len(manifest['files'])} files, {out.stat().st_size} bytes)"
    )


def restore(
    backup_file: Annotated[Path, typer.Argument(help="An archive made by `meterhub backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing SQLite database file.")
    ] = False,
) -> None:
    """Restore a backup into the configured data dir and database (stop meterhub first)."""
    from meterhub.services import backup as backups

    cfg = settings()
    try:
        manifest = backups.restore(cfg, backup_file, force=force)
    except MeterhubError as exc:
        fail(exc.message)
    with database(cfg):
        pass  # migrate a backup taken by an older version
    typer.echo(
        f"restored {backup_file} (taken {manifest['created_at']}) into {cfg.data_dir}; "
        "start meterhub again"
    )


def maintenance() -> None:
    """Run the daily housekeeping now: retention (RETENTION_RAW_DAYS), audit log bound,
    expired sessions, tokens and login attempts."""
    from meterhub.db.engine import make_engine
    from meterhub.services.maintenance import run_once

    cfg = settings()
    with database(cfg):
        pass
    engine = make_engine(cfg.database_url)
    try:
        done = run_once(cfg, engine)
    finally:
        engine.dispose()
    typer.echo("removed: " + ", ".join(f"{k} {v}" for k, v in done.items()))
