"""Who may connect with which client id, publish where and subscribe to what.

Pure rules on plain data, the same for the embedded broker (`guard`) and the Mosquitto
export (`mosquitto`):

* a device account (user name = its topic id) publishes only its own inbound topics and
  subscribes only its own command topic; which topics those are follows its protocol;
* the `meterhub` service account (meterhub's own processes) may use every topic: it is
  the server, and its integrations (Home Assistant discovery, MQTT alert channels)
  publish outside `meter/`;
* the enrolment account (`enrol`, embedded broker only) publishes nothing and reads only
  the answer to its own request;
* client ids starting `meterhub-` belong to the service account; a device connects as
  `meter-<id>` (or `<id>`); an enrolment client as `enrol-<serial>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

SERVICE_USER = "meterhub"
ENROL_USER = "enrol"
SERVICE_CLIENT_PREFIX = "meterhub-"
ENROL_CLIENT_PREFIX = "enrol-"
DEVICE_CLIENT_PREFIX = "meter-"
PROTOCOLS = ("meterhub", "tasmota", "esphome")
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_SHARE_RE = re.compile(r"^\$share/[^/#+]+/")

Kind = Literal["service", "device", "enrol"]


@dataclass(frozen=True)
class Rules:
    """Topic filters an account may publish to and subscribe to."""

    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """An authenticated MQTT client: its account and what that account may do."""

    kind: Kind
    username: str
    rules: Rules = field(default_factory=Rules)
    account_state: str | None = None
    """The device account as it was at CONNECT (password hash and protocol): when the
    registry says otherwise, the broker closes the connection."""


def device_rules(topic_id: str, protocol: str = "meterhub") -> Rules:
    """The topics of a device account, by protocol (meterhub v1, Tasmota or ESPHome)."""
    if protocol == "tasmota":
        return Rules(
            publish=(f"tele/{topic_id}/#", f"stat/{topic_id}/#"),
            subscribe=(f"cmnd/{topic_id}/#",),
        )
    if protocol == "esphome":
        return Rules(publish=(f"{topic_id}/#",), subscribe=(f"{topic_id}/#",))
    base = f"meter/{topic_id}"
    return Rules(
        publish=(f"{base}/data", f"{base}/status", f"{base}/control/ack"),
        subscribe=(f"{base}/control",),
    )


SERVICE_RULES = Rules(publish=("#",), subscribe=("#",))


def enrol_topic(serial: str) -> str:
    """Where an enrolling meter receives its credentials once an admin approved it."""
    return f"enrol/{serial}/credentials"


def enrol_rules(serial: str) -> Rules:
    """An enrolment client publishes nothing and reads only its own answer."""
    return Rules(subscribe=(enrol_topic(serial),))


def enrol_serial(client_id: str) -> str | None:
    """The serial an enrolment client id (`enrol-<serial>`) names, or None."""
    if not client_id.startswith(ENROL_CLIENT_PREFIX):
        return None
    serial = client_id[len(ENROL_CLIENT_PREFIX) :]
    return serial if ID_RE.match(serial) else None


def device_client_ids(topic_id: str) -> tuple[str, ...]:
    """The client ids a device account may connect with."""
    return (f"{DEVICE_CLIENT_PREFIX}{topic_id}", topic_id)


def client_id_allowed(identity: Identity, client_id: str) -> bool:
    """The client-id rule: reserved prefixes belong to their accounts; a device uses its
    own ids only (so no account can take over another client's session)."""
    if identity.kind == "service":
        return client_id.startswith(SERVICE_CLIENT_PREFIX)
    if identity.kind == "enrol":
        return enrol_serial(client_id) is not None
    return client_id in device_client_ids(identity.username)


def may_publish(rules: Rules, topic: str) -> bool:
    """True if `topic` (a concrete topic name) matches one of the publish filters."""
    if topic in rules.publish:  # the hot path: a meter's own literal topics
        return True
    return any(topic_matches(allowed, topic) for allowed in rules.publish)


def may_receive(rules: Rules, topic: str) -> bool:
    """True if a message on `topic` may be delivered to a client with these rules."""
    if topic in rules.subscribe:
        return True
    return any(topic_matches(allowed, topic) for allowed in rules.subscribe)


def may_subscribe(rules: Rules, requested: str) -> bool:
    """True if every topic `requested` (a filter, maybe `$share/G/...`) can match lies
    within one of the subscribe filters."""
    requested = _SHARE_RE.sub("", requested, count=1)
    return any(filter_within(requested, allowed) for allowed in rules.subscribe)


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching: does `topic` match `pattern` (with + and #)?"""
    if topic.startswith("$") and not pattern.startswith("$"):
        return False  # [MQTT-4.7.2-1]: wildcards never match $-topics
    want, have = pattern.split("/"), topic.split("/")
    for index, level in enumerate(want):
        if level == "#":
            return True
        if index >= len(have) or (level != "+" and level != have[index]):
            return False
    return len(want) == len(have)


def filter_within(requested: str, allowed: str) -> bool:
    """True if every topic matched by filter `requested` is matched by filter `allowed`."""
    if requested.startswith("$") and not allowed.startswith("$"):
        return False
    want, have = allowed.split("/"), requested.split("/")
    for index, level in enumerate(want):
        if level == "#":
            return True
        if index >= len(have):
            return False
        asked = have[index]
        if asked == "#":
            return False  # asks for more levels than `allowed` covers
        if level != "+" and (asked == "+" or asked != level):
            return False
    return len(want) == len(have)
