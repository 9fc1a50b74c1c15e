"""Helpers every CLI command uses: settings, a database session, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from meterhub.config import Settings, load_settings
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.migrate import upgrade
from meterhub.errors import MeterhubError
from meterhub.security.files import secure_data_dir


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def settings() -> Settings:
    """Settings from the environment, or a one-line error naming the bad variable. Makes
    the data directory private (every command that reads settings may write there)."""
    try:
        cfg = load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"bad setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    secure_data_dir(cfg.data_dir)
    return cfg


@contextmanager
def database(cfg: Settings, migrate: bool = True) -> Iterator[Session]:
    """A committed-on-success session on the configured database (migrated first)."""
    try:
        engine = make_engine(cfg.database_url)
        if migrate:
            upgrade(engine)
    except Exception as exc:
        fail(
            f"cannot open the database {cfg.database_url.split('@')[-1]}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
    with make_sessionmaker(engine)() as db:
        try:
            yield db
            db.commit()
        except MeterhubError as exc:
            db.rollback()
            fail(exc.message)
        finally:
            engine.dispose()


def echo_table(rows: list[list[str]], header: list[str]) -> None:
    """A plain aligned table on stdout."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        sys.stdout.write(
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )
