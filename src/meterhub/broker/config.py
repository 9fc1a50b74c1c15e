"""Build the amqtt configuration of meterhub's embedded broker."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_OPEN_AUTH = "meterhub.broker.auth.OpenAuthPlugin"
_FILE_AUTH = "amqtt.plugins.authentication.FileAuthPlugin"
_SESSION_DB = "amqtt.contrib.persistence.SessionDBPlugin"


def persistence_available() -> bool:
    """Return True if amqtt's session database can run (SQLAlchemy's asyncio layer:
    aiosqlite and greenlet)."""
    return all(importlib.util.find_spec(name) is not None for name in ("aiosqlite", "greenlet"))


def embedded_config(
    host: str,
    port: int,
    *,
    password_file: Path | None = None,
    persistence_path: Path | None = None,
    guarded: bool = False,
    tls: tuple[int, Path, Path] | None = None,
) -> dict[str, Any]:
    """Return the amqtt 0.12 config dict for the embedded broker.

    * One TCP listener on ``host:port`` (MQTT 3.1.1 only; amqtt has no v5).
    * Authentication: ``guarded`` means meterhub's accounts and ACL, enforced by
      ``meterhub.broker.guard.GuardedBroker`` itself (no auth plugin); otherwise open
      (see ``meterhub.broker.auth``) unless a password file in amqtt's format
      (``user:hash`` lines, argon2/bcrypt) is given.
    * Persistent sessions (clean_session=False) keep their subscriptions and
      queue QoS 1 messages while the client is away, in memory. With
      ``persistence_path`` and aiosqlite installed, amqtt's SessionDBPlugin
      also keeps sessions, subscriptions and retained messages across broker
      restarts (amqtt does not persist the queued messages themselves).
    * ``tls`` (port, certificate, key): a second listener on the same address speaking
      MQTT over TLS (mqtts), with the same accounts and ACL.
    * No ``$SYS`` plugin and no packet logging: both cost CPU on the hot path.
    """
    plugins: dict[str, Any] = {}
    if guarded:
        pass
    elif password_file is not None:
        plugins[_FILE_AUTH] = {"password_file": str(password_file)}
    else:
        plugins[_OPEN_AUTH] = {}
    if persistence_path is not None and persistence_available():
        plugins[_SESSION_DB] = {
            "connection": f"sqlite+aiosqlite:///{persistence_path}",
            "clear_on_shutdown": False,
        }
    listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{host}:{port}"}}
    if tls is not None:
        tls_port, cert, key = tls
        listeners["tls"] = {
            "type": "tcp",
            "bind": f"{host}:{tls_port}",
            "ssl": True,
            "certfile": str(cert),
            "keyfile": str(key),
        }
    return {
        "listeners": listeners,
        "timeout_disconnect_delay": 2,
        "plugins": plugins,
    }
