"""meterhub's own MQTT account (`meterhub`) and the credentials its clients use.

The service password is generated once into the data dir (mode 0600). When meterhub uses
its embedded broker, or `auto` finds a broker on localhost, every meterhub client (ingest,
live feed, command publisher, demo) connects as `meterhub` with that password; an
explicit `MQTT_BROKER_URL=mqtt://user:pass@host` keeps its own credentials.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from meterhub.broker.acl import SERVICE_USER
from meterhub.broker.url import BrokerTarget
from meterhub.config import stored_secret

SERVICE_PASSWORD_FILE = "mqtt_service_password"  # noqa: S105 - a file name


def service_password_file(data_dir: Path) -> Path:
    """Where the service account's password lives."""
    return data_dir / SERVICE_PASSWORD_FILE


def service_password(data_dir: Path) -> str:
    """The service account's password, generated on first use."""
    return stored_secret(service_password_file(data_dir))


def with_service_account(target: BrokerTarget, data_dir: Path) -> BrokerTarget:
    """`target` with the service account's credentials, unless it names its own."""
    if target.username is not None:
        return target
    return replace(target, username=SERVICE_USER, password=service_password(data_dir))


def resolve_service_broker(
    url_setting: str, mqtt_port: int, data_dir: Path
) -> tuple[BrokerTarget, bool]:
    """`resolve_broker`, with the service account on the local (auto/embedded) broker."""
    from meterhub.broker.url import resolve_broker

    target, start = resolve_broker(url_setting, mqtt_port)
    if url_setting.strip().lower() in ("", "auto", "embedded"):
        target = with_service_account(target, data_dir)
    return target, start
