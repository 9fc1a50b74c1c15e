"""Apply Alembic migrations programmatically (`meterhub init-db`, app start, tests).

Alembic (with Mako and Pygments) would stay in a server process's memory until it exits
(about 7 MiB), so it is imported only when a migration is pending: :func:`is_current`
compares the database's ``alembic_version`` with the head revision read from the
migration files, a cheap query. The server's command line migrates before it becomes the
server process (`meterhub web`, `run`, `ingest`), so the server only ever finds nothing
to do.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_ASSIGNED = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at meterhub's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    """The one head of the migration files, read without Alembic; None when the files do not
    say it plainly (several heads, a computed value): Alembic then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_ASSIGNED.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        parents.update([down] if isinstance(down, str) else down or ())
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revisions(engine: Engine) -> set[str] | None:
    """The revisions the database records (None when it has no ``alembic_version``)."""
    try:
        with engine.connect() as connection:
            return set(connection.scalars(text("SELECT version_num FROM alembic_version")))
    except DBAPIError:
        return None


def is_current(engine: Engine) -> bool:
    """True when the database behind `engine` is at the head revision (nothing to do)."""
    head = head_revision()
    return head is not None and current_revisions(engine) == {head}


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision` (Alembic is loaded only when there
    is something to do)."""
    if revision == "head" and is_current(engine):
        return
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
