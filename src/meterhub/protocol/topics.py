"""MQTT topics of protocol v1: ``meter/<id>/data|status|control|control/ack``."""

from __future__ import annotations

from typing import Final, Literal, TypeVar

from meterhub.protocol.rejects import short

__all__ = [
    "FOREIGN_SUBSCRIPTIONS",
    "ForeignTopic",
    "TopicKind",
    "foreign_topic",
    "parse_topic",
    "remember",
    "shared_filter",
]

TopicKind = Literal["data", "status", "control", "control/ack"]

_T = TypeVar("_T")
_KINDS: Final[dict[str, TopicKind]] = {"data": "data", "status": "status", "control": "control"}
_TOPIC_MEMO_MAX: Final = 65536
_topic_memo: dict[str, tuple[str, TopicKind]] = {}  # cache of a pure function


def parse_topic(topic: str) -> tuple[str, TopicKind]:
    """Split ``meter/<id>/data|status|control|control/ack`` into ``(id, kind)``.

    Raises ValueError naming the accepted forms for anything else (including an empty id
    or one holding an MQTT wildcard).
    """
    parsed = _topic_memo.get(topic)
    if parsed is None:
        parsed = _split_topic(topic)
        remember(_topic_memo, topic, parsed)
    return parsed


def _split_topic(topic: str) -> tuple[str, TopicKind]:
    """parse_topic without the memo."""
    parts = topic.split("/")
    n = len(parts)
    if n >= 3 and parts[0] == "meter":
        device_id = parts[1]
        if device_id and "+" not in device_id and "#" not in device_id:
            if n == 3:
                kind = _KINDS.get(parts[2])
                if kind is not None:
                    return device_id, kind
            elif n == 4 and parts[2] == "control" and parts[3] == "ack":
                return device_id, "control/ack"
    raise ValueError(
        f"topic {short(topic)} is not meter/<id>/data, meter/<id>/status, "
        "meter/<id>/control or meter/<id>/control/ack"
    )


ForeignTopic = tuple[Literal["tasmota", "esphome"], str, Literal["sensor", "status"], str]
"""(protocol, topic id, kind, ESPHome object id or "")."""

FOREIGN_SUBSCRIPTIONS: Final = (
    "tele/+/SENSOR",
    "tele/+/LWT",
    "+/sensor/+/state",
    "+/status",
)
"""Other firmwares' topics ingest reads: Tasmota ``tele/<topic>/SENSOR|LWT``, ESPHome
``<prefix>/sensor/<object_id>/state`` and ``<prefix>/status``. ``+/status`` has two levels
and so never matches ``meter/<id>/status``; other programs' ``<x>/status`` topics (Home
Assistant's ``homeassistant/status``) are ignored unless an ESPHome device has that prefix."""


def foreign_topic(topic: str) -> ForeignTopic | None:
    """A Tasmota or ESPHome topic's meaning, or None when it is none of
    :data:`FOREIGN_SUBSCRIPTIONS` (or its id is empty or holds a wildcard)."""
    parts = topic.split("/")
    if any(not p or "+" in p or "#" in p for p in parts):
        return None
    n = len(parts)
    if n == 3 and parts[0] == "tele":
        if parts[2] == "SENSOR":
            return "tasmota", parts[1], "sensor", ""
        if parts[2] == "LWT":
            return "tasmota", parts[1], "status", ""
    elif n == 4 and parts[1] == "sensor" and parts[3] == "state":
        return "esphome", parts[0], "sensor", parts[2]
    elif n == 2 and parts[1] == "status":
        return "esphome", parts[0], "status", ""
    return None


def remember(memo: dict[str, _T], topic: str, value: _T) -> None:
    """Keep a topic's parse in a bounded memo: a few MB at most, emptied when full."""
    if len(topic) <= 128:
        if len(memo) >= _TOPIC_MEMO_MAX:
            memo.clear()
        memo[topic] = value


def shared_filter(group: str, topic_filter: str) -> str:
    """``$share/<group>/<filter>``: the broker hands each message matching `topic_filter`
    to one subscriber of `group` (Mosquitto 1.6+, EMQX). Raises ValueError when `group`
    is empty or holds ``/``, ``+`` or ``#``."""
    if not group or any(c in group for c in "/+#") or len(group) > 64:
        raise ValueError(
            f"shared subscription group {short(group)} must be 1-64 characters without / + #"
        )
    return f"$share/{group}/{topic_filter}"
