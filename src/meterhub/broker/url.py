"""Parse ``MQTT_BROKER_URL`` and decide which broker meterhub talks to.

``MQTT_BROKER_URL`` is one of:

* ``auto`` - use a broker answering on localhost:``MQTT_PORT``, else start the
  embedded one there;
* ``embedded`` - always start the embedded broker on ``MQTT_PORT``;
* ``mqtt://user:pass@host:port`` or ``mqtts://...`` - an external broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from meterhub.broker.probe import mqtt_answers

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class BrokerTarget:
    """Where an MQTT client connects, and how."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    """PEM file of a private CA to trust besides the system's (``MQTT_CA_FILE``)."""

    @property
    def display_url(self) -> str:
        """The URL for logs and messages, with the password hidden."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.username and self.password else ""
        if self.username and not self.password:
            user = f"{self.username}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


def target_url(target: BrokerTarget) -> str:
    """The URL of `target` with its credentials (percent-encoded): for a child process's
    environment, never for logs (use ``display_url``)."""
    auth = ""
    if target.username:
        auth = quote(target.username, safe="")
        if target.password:
            auth += ":" + quote(target.password, safe="")
        auth += "@"
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{'mqtts' if target.tls else 'mqtt'}://{auth}{host}:{target.port}"


def parse_broker_url(url: str) -> BrokerTarget:
    """Parse ``mqtt://[user[:pass]@]host[:port]`` (or ``mqtts://``) into a BrokerTarget.

    Raises ValueError with a message naming what is wrong and what is accepted.
    """
    text = url.strip()
    hint = "expected mqtt://[user:pass@]host[:port], mqtts://..., 'auto' or 'embedded'"
    if "://" not in text:
        raise ValueError(f"MQTT broker URL {text!r} has no scheme: {hint}")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"MQTT broker URL {text!r} has scheme {scheme!r}: {hint}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"MQTT broker URL {text!r} must not have a path or query: {hint}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"MQTT broker URL {text!r} has an invalid port: use a number from 1 to 65535"
        ) from None
    host = parts.hostname
    if not host:
        raise ValueError(f"MQTT broker URL {text!r} has no host: {hint}")
    if port == 0:
        raise ValueError(f"MQTT broker URL {text!r} has port 0: use a number from 1 to 65535")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return BrokerTarget(
        host=host,
        port=port if port is not None else DEFAULT_PORTS[scheme],
        username=username,
        password=password,
        tls=scheme == "mqtts",
    )


def resolve_broker(url_setting: str, mqtt_port: int) -> tuple[BrokerTarget, bool]:
    """Decide the broker to use: returns ``(target, start_embedded)``.

    ``auto`` probes 127.0.0.1:``mqtt_port`` with a real MQTT CONNECT (short
    timeout); when nothing answers, the caller must start the embedded broker
    on that port and connect to the returned target.
    """
    if not 0 < mqtt_port < 65536:
        raise ValueError(f"MQTT_PORT {mqtt_port} is not a port: use a number from 1 to 65535")
    setting = url_setting.strip().lower()
    local = BrokerTarget(host=LOCALHOST, port=mqtt_port)
    if setting in ("", "auto"):
        return local, not mqtt_answers(LOCALHOST, mqtt_port)
    if setting == "embedded":
        return local, True
    return parse_broker_url(url_setting), False
