"""Decode a device's status (``meter/<id>/status``) and its answers to commands
(``meter/<id>/control/ack``). Pure: topic and bytes in, plain data or a Reject out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

from meterhub.protocol.fields import check_serial
from meterhub.protocol.rejects import Invalid, Reject, describe, load_object, msg_reject, short
from meterhub.protocol.rules import MAX_FIRMWARE_LEN, MAX_TEXT_LEN, is_valid_serial, raw_text
from meterhub.protocol.topics import parse_topic

__all__ = ["CommandAck", "StatusUpdate", "decode_ack", "decode_status"]


@dataclass(slots=True)
class StatusUpdate:
    """A device's status message (``meter/<id>/status``).

    Known keys with an unexpected type are not fatal: the attribute stays None and the
    value is kept in ``extra`` under its key, as are unknown keys.
    """

    device_id: str
    serial: str | None
    """``serial_number`` from a JSON status, else the topic id when it is a valid serial."""
    online: bool
    state: str
    received_at: float
    firmware_version: str | None = None
    ip_address: str | None = None
    rssi: float | None = None
    uptime_s: float | None = None
    free_mem: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CommandAck:
    """A device's answer to a control command (``meter/<id>/control/ack``)."""

    device_id: str
    command_id: str
    ok: bool
    error: str | None
    extra: dict[str, Any] = field(default_factory=dict)


_STATUS_KNOWN: Final = frozenset(
    {
        "state",
        "online",
        "serial_number",
        "firmware_version",
        "ip_address",
        "rssi",
        "uptime_s",
        "free_mem",
    }
)


def decode_status(
    topic: str, raw: bytes | bytearray | memoryview, received_at: float
) -> StatusUpdate | Reject:
    """Decode ``meter/<id>/status``: ``online`` / ``offline`` or a JSON object.

    In JSON, a missing ``state`` means online (a device that publishes is up) unless a
    boolean ``online`` key says otherwise; any state other than ``offline`` is online.
    An empty payload (a cleared retained message) is rejected ``empty_payload``.
    """
    try:
        device_id, kind = parse_topic(topic)
    except ValueError as exc:
        return msg_reject("bad_topic", str(exc), topic, raw, received_at)
    if kind != "status":
        detail = f"decode_status got a {kind} topic; expected meter/<id>/status"
        return msg_reject("bad_topic", detail, topic, raw, received_at)
    topic_serial = device_id if is_valid_serial(device_id) else None
    if len(raw) <= 16:
        word = bytes(raw).strip().lower()
        if word == b"online" or word == b"offline":
            return StatusUpdate(
                device_id, topic_serial, word == b"online", word.decode(), received_at
            )
    obj: Any = load_object(topic, raw, received_at, allow_string=True)
    if isinstance(obj, Reject):
        return obj
    if type(obj) is str:
        word_s = obj.strip().lower()
        if word_s in ("online", "offline"):
            return StatusUpdate(device_id, topic_serial, word_s == "online", word_s, received_at)
        return msg_reject(
            "not_an_object",
            f"status must be online, offline or a JSON object, got {short(obj)}",
            topic,
            raw,
            received_at,
        )

    extra = {k: v for k, v in obj.items() if k not in _STATUS_KNOWN}
    serial = topic_serial
    if obj.get("serial_number") is not None:
        try:
            serial = check_serial(obj["serial_number"])
        except Invalid as exc:
            return exc.reject(topic, raw_text(raw), received_at)

    state_value = obj.get("state")
    online_flag = obj.get("online")
    if type(state_value) is str and 0 < len(state_value) <= MAX_TEXT_LEN:
        state = state_value.lower()
    else:
        if state_value is not None:
            extra["state"] = state_value
        state = "offline" if online_flag is False else "online"
    if online_flag is not None and type(online_flag) is not bool:
        extra["online"] = online_flag

    def pick(key: str, ok: bool) -> Any:
        value = obj.get(key)
        if value is None or ok:
            return value
        extra[key] = value
        return None

    fw = obj.get("firmware_version")
    ip = obj.get("ip_address")
    rssi = obj.get("rssi")
    uptime = obj.get("uptime_s")
    free_mem = obj.get("free_mem")
    return StatusUpdate(
        device_id,
        serial,
        state != "offline",
        state,
        received_at,
        # Values outside what the devices table holds stay in `extra`, never in a column.
        pick("firmware_version", type(fw) is str and len(fw) <= MAX_FIRMWARE_LEN),
        pick("ip_address", type(ip) is str and len(ip) <= MAX_TEXT_LEN),
        _as_float(pick("rssi", _is_number(rssi) and -200 <= rssi <= 50)),
        _as_float(pick("uptime_s", _is_number(uptime) and 0 <= uptime < 2**53)),
        pick("free_mem", type(free_mem) is int and 0 <= free_mem < 2**31),
        extra,
    )


def decode_ack(
    topic: str, raw: bytes | bytearray | memoryview, received_at: float | None = None
) -> CommandAck | Reject:
    """Decode ``meter/<id>/control/ack``: ``{"id": "<uuid>", "ok": true, "error": null}``.

    ``id`` (1-64 chars) and ``ok`` (bool) are required; ``error`` is null or a string
    (cut to 500 characters); other keys land in ``extra``.
    """
    try:
        device_id, kind = parse_topic(topic)
    except ValueError as exc:
        return msg_reject("bad_topic", str(exc), topic, raw, received_at)
    if kind != "control/ack":
        detail = f"decode_ack got a {kind} topic; expected meter/<id>/control/ack"
        return msg_reject("bad_topic", detail, topic, raw, received_at)
    obj = load_object(topic, raw, received_at)
    if isinstance(obj, Reject):
        return obj
    try:
        command_id = obj.get("id")
        if command_id is None:
            raise Invalid("missing_field", "id", "id is missing")
        if type(command_id) is not str or not 0 < len(command_id) <= MAX_TEXT_LEN:
            raise Invalid(
                "wrong_type",
                "id",
                f"id must be a 1-{MAX_TEXT_LEN} character string, got {describe(command_id)}",
            )
        ok = obj.get("ok")
        if ok is None:
            raise Invalid("missing_field", "ok", "ok is missing")
        if type(ok) is not bool:
            raise Invalid("wrong_type", "ok", f"ok must be true or false, got {describe(ok)}")
        error = obj.get("error")
        if error is not None and type(error) is not str:
            raise Invalid(
                "wrong_type", "error", f"error must be a string or null, got {describe(error)}"
            )
    except Invalid as exc:
        return exc.reject(topic, raw_text(raw), received_at)
    extra = {k: v for k, v in obj.items() if k not in ("id", "ok", "error")}
    return CommandAck(device_id, command_id, ok, error[:500] if error else None, extra)


def _is_number(value: Any) -> bool:
    kind = type(value)
    return (kind is int or kind is float) and math.isfinite(value)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)
