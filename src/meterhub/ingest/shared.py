"""Several ingest workers on one stream: each subscribes ``$share/<group>/...`` with its
own persistent client id, and the broker hands every message to one of them. They
write to one PostgreSQL database; :mod:`meterhub.store.shared` keeps the results exact
whichever worker stores which reading."""

from __future__ import annotations

import re
import socket

from meterhub.protocol.topics import shared_filter

CLIENT_PREFIX = "meterhub-ingest-"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def worker_client_id(name: str | None) -> str:
    """``meterhub-ingest-<name>`` (default: the host name), the worker's persistent id."""
    name = name or socket.gethostname().split(".")[0] or "worker"
    if not _NAME.fullmatch(name):
        raise ValueError(f"ingest name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return CLIENT_PREFIX + name


def check_shared(group: str, database_url: str) -> None:
    """Raise ValueError (one line) unless `group` is a valid group and the database is
    PostgreSQL: SQLite has one writer, so shared ingest refuses it."""
    shared_filter(group, "#")
    if not database_url.startswith("postgresql"):
        raise ValueError(
            "ingest --shared needs PostgreSQL (DATABASE_URL=postgresql://...): "
            "SQLite takes one writer"
        )
