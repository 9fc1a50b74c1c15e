"""`meterhub broker mosquitto-config`: Mosquitto files with meterhub's accounts and ACL.

Two forms, both from the registry's password hashes (meterhub never knows a device's
password after showing it once; the hashes are already in Mosquitto's PBKDF2-SHA512
form, see `passwords`):

* ``dynsec`` (default): Mosquitto's dynamic-security plugin, with each device account
  bound to its client id ``meter-<id>``. This is the only way Mosquitto can stop an
  account from connecting with another client's id (and so kicking it off, or taking
  over meterhub's ingest session). Changes need a Mosquitto restart.
* ``files``: ``password_file`` + ``acl_file``. Mosquitto re-reads them on SIGHUP, so a
  rotation or revocation needs no restart, but it cannot bind client ids to accounts.

Either way: anonymous refused, devices confined to their own topics (by protocol, as on
the embedded broker), the ``meterhub`` service account allowed everywhere. Mosquitto has
no enrolment account: register meters in advance.
"""

from __future__ import annotations

import base64
import glob
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from meterhub.broker.acl import (
    DEVICE_CLIENT_PREFIX,
    SERVICE_USER,
    device_rules,
)
from meterhub.broker.passwords import hash_password, parse_hash

Format = Literal["dynsec", "files"]
DYNSEC_PLUGIN_GLOBS = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/*/mosquitto_dynamic_security.so",
)
MAX_QUEUED_MESSAGES = 100_000  # Debian's 1000 silently drops QoS 1 for a lagging ingest


@dataclass(frozen=True)
class Account:
    """A device account as the registry has it."""

    username: str
    password_hash: str
    protocol: str = "meterhub"


def find_dynsec_plugin() -> str | None:
    """The dynamic-security plugin's path on this machine, if installed."""
    for pattern in DYNSEC_PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def write_config(
    out: Path,
    accounts: Iterable[Account],
    service_password: str,
    *,
    port: int = 1883,
    bind: str | None = None,
    fmt: Format = "dynsec",
    plugin: str | None = None,
    user: str | None = None,
) -> list[Path]:
    """Write ``mosquitto.conf`` and its auth files into `out`; return the paths written.
    ValueError (one line) when the dynsec plugin cannot be found."""
    out.mkdir(parents=True, exist_ok=True)
    devices = sorted(accounts, key=lambda a: a.username)
    service_hash = hash_password(service_password)
    lines = [
        "# Written by `meterhub broker mosquitto-config`: regenerate after adding, rotating",
        "# or revoking device accounts. Run: mosquitto -c " + str(out / "mosquitto.conf"),
        "per_listener_settings false",
        *([f"user {user}"] if user else []),
        f"listener {port}" + (f" {bind}" if bind else ""),
        "allow_anonymous false",
        # Why these numbers: deploy/mosquitto/mosquitto.conf.
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        "max_queued_bytes 0",
        "max_inflight_messages 1000",
        "max_packet_size 262144",
        "persistence true",
        f"persistence_location {out.resolve()}/",
        "autosave_interval 300",
        "persistent_client_expiration 14d",
    ]
    written: list[Path] = []
    if fmt == "dynsec":
        plugin = plugin or find_dynsec_plugin()
        if plugin is None:
            raise ValueError(
                "Mosquitto's dynamic-security plugin was not found: pass --plugin PATH, "
                "or use --format files"
            )
        dynsec = out / "dynamic-security.json"
        _write_private(dynsec, json.dumps(dynsec_document(devices, service_hash), indent=2))
        lines += [f"plugin {plugin}", f"plugin_opt_config_file {dynsec.resolve()}"]
        written.append(dynsec)
    else:
        passwords, acl = out / "passwords", out / "acl"
        entries = [f"{SERVICE_USER}:{service_hash}"] + [
            f"{a.username}:{a.password_hash}" for a in devices
        ]
        _write_private(passwords, "\n".join(entries) + "\n")
        _write_private(acl, acl_file(devices))
        lines += [f"password_file {passwords.resolve()}", f"acl_file {acl.resolve()}"]
        written += [passwords, acl]
    conf = out / "mosquitto.conf"
    _write_private(conf, "\n".join(lines) + "\n")
    return [conf, *written]


def acl_file(devices: list[Account]) -> str:
    """Mosquitto's acl_file text: the service account everywhere, each device its topics."""
    lines = [f"user {SERVICE_USER}", "topic readwrite #", "topic readwrite $share/#", ""]
    for account in devices:
        rules = device_rules(account.username, account.protocol)
        lines.append(f"user {account.username}")
        lines += [f"topic write {topic}" for topic in rules.publish]
        lines += [f"topic read {topic}" for topic in rules.subscribe]
        lines.append("")
    return "\n".join(lines)


def dynsec_document(devices: list[Account], service_hash: str) -> dict[str, Any]:
    """The dynamic-security plugin's JSON: one role per device, bound client ids."""
    clients = [_dynsec_client(SERVICE_USER, service_hash, "service", None)]
    roles: list[dict[str, Any]] = [
        {
            "rolename": "service",
            "acls": [
                {"acltype": kind, "topic": topic, "priority": 0, "allow": True}
                for kind in ("publishClientSend", "subscribePattern")
                for topic in ("#", "$share/#")
            ],
        }
    ]
    for account in devices:
        role = f"device-{account.username}"
        rules = device_rules(account.username, account.protocol)
        acls = [
            {"acltype": "publishClientSend", "topic": t, "priority": 0, "allow": True}
            for t in rules.publish
        ] + [
            {"acltype": "subscribePattern", "topic": t, "priority": 0, "allow": True}
            for t in rules.subscribe
        ]
        roles.append({"rolename": role, "acls": acls})
        clients.append(
            _dynsec_client(
                account.username,
                account.password_hash,
                role,
                f"{DEVICE_CLIENT_PREFIX}{account.username}",
            )
        )
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


def _dynsec_client(
    username: str, stored_hash: str, role: str, client_id: str | None
) -> dict[str, Any]:
    iterations, salt, digest = parse_hash(stored_hash)
    client: dict[str, Any] = {
        "username": username,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
        "roles": [{"rolename": role}],
    }
    if client_id is not None:
        client["clientid"] = client_id
    return client


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (it holds password hashes)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
