"""Rejects: what a message or reading that was not accepted becomes (a dead letter).

Nothing in the decoder raises on bad input; every problem comes back as a :class:`Reject`
carrying a machine-readable ``reason`` (one of :data:`REASONS`), a human ``detail`` naming
the field and value, and the raw payload cut to ``RAW_KEEP_BYTES`` for the dead-letter
table. Inside the decoder a validation failure is an :class:`Invalid` exception, turned
into a Reject by :meth:`Invalid.reject` where the message's context is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import orjson

from meterhub.protocol.rules import MAX_PAYLOAD_BYTES, RAW_KEEP_BYTES, raw_text

__all__ = [
    "REASONS",
    "Invalid",
    "Reason",
    "Reject",
    "describe",
    "item_raw",
    "load_object",
    "msg_reject",
    "short",
]

Reason = Literal[
    "oversized",
    "empty_payload",
    "malformed_json",
    "not_an_object",
    "bad_topic",
    "bad_serial",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "bad_timestamp",
    "future_timestamp",
    "empty_batch",
    "batch_too_large",
    "too_many_pending",
    "serial_mismatch",
    "too_old",
    "unstorable",
    "tasmota_multiphase",
    "unknown_field",
    "incomplete_reading",
    "protocol_mismatch",
]
REASONS: Final[tuple[str, ...]] = get_args(Reason)
"""Every reject reason code, for metrics labels and the admin page."""


@dataclass(slots=True)
class Reject:
    """A message or a reading that was not accepted, ready for the dead-letter table."""

    reason: Reason
    detail: str
    topic: str
    raw: str
    """The payload (or, for one reading of a batch, that reading) cut to RAW_KEEP_BYTES."""
    received_at: float | None
    index: int | None = None
    """Position in a batch's ``readings``; None for a whole message or a single reading."""
    field: str | None = None
    """The offending key, when one is to blame."""
    serial: str | None = None
    """The device's serial when it was known and valid."""


class Invalid(Exception):
    """One validation failure inside the decoder, turned into a Reject by the caller."""

    def __init__(self, reason: Reason, field_name: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.field_name = field_name
        self.detail = detail

    def reject(
        self,
        topic: str,
        raw: str,
        received_at: float | None,
        *,
        index: int | None = None,
        serial: str | None = None,
    ) -> Reject:
        """This failure as a Reject of the message on ``topic`` (``raw`` already cut)."""
        return Reject(
            self.reason,
            self.detail,
            topic,
            raw,
            received_at,
            index=index,
            field=self.field_name,
            serial=serial,
        )


def msg_reject(
    reason: Reason,
    detail: str,
    topic: str,
    raw: bytes | bytearray | memoryview,
    received_at: float | None,
) -> Reject:
    """A reject for a whole message."""
    return Reject(reason, detail, topic, raw_text(raw), received_at)


def load_object(
    topic: str,
    raw: bytes | bytearray | memoryview,
    received_at: float | None,
    allow_string: bool = False,
) -> Any:
    """Size-check and parse; a dict (or str if allowed) on success, else a Reject."""
    size = len(raw)
    if size > MAX_PAYLOAD_BYTES:
        return msg_reject(
            "oversized",
            f"payload is {size} bytes, more than {MAX_PAYLOAD_BYTES}",
            topic,
            raw,
            received_at,
        )
    if size == 0:
        return msg_reject("empty_payload", "payload is empty", topic, raw, received_at)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return msg_reject(
            "malformed_json", f"not valid JSON: {str(exc)[:200]}", topic, raw, received_at
        )
    if type(obj) is dict or (allow_string and type(obj) is str):
        return obj
    return msg_reject(
        "not_an_object",
        f"payload must be a JSON object, got {describe(obj)}",
        topic,
        raw,
        received_at,
    )


def item_raw(item: Any) -> str:
    """One batch item re-serialised, cut like a payload."""
    try:
        return raw_text(orjson.dumps(item))
    except TypeError:  # not reachable for orjson-parsed input; stay total anyway
        return repr(item)[:RAW_KEEP_BYTES]


def describe(value: Any) -> str:
    """JSON type name and a short rendering, e.g. ``string '230.1'``."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return f"string {short(value)}"
    if kind is int or kind is float:
        return f"number {short(value)}"
    if kind is list:
        return "array"
    if kind is dict:
        return "object"
    return kind.__name__


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error details."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
