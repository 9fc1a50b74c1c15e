"""What one MQTT message means for the store: the topic picks the decoder (readings,
status, command acknowledgement); anything malformed becomes a reject with its reason,
and readings older than the late window (``METERHUB_LATE_WINDOW_DAYS``) are ``too_old``.
Which device a message belongs to (its topic's) is decided by the store
(:mod:`meterhub.store.binding`). Tasmota and ESPHome topics go to ingest/foreign.py.
Pure but for ESPHome's open rounds (`rounds`): the writer process calls it on the raw
messages ingest hands over."""

from __future__ import annotations

import orjson

from meterhub.ingest.foreign import decode_foreign
from meterhub.protocol.esphome import Rounds
from meterhub.protocol.readings import decode_data
from meterhub.protocol.rejects import Reason, Reject
from meterhub.protocol.rules import raw_text
from meterhub.protocol.status import StatusUpdate, decode_ack, decode_status
from meterhub.protocol.topics import foreign_topic, parse_topic
from meterhub.store import Batch


def decode_message(
    topic: str,
    payload: bytes | bytearray,
    received_at: float,
    late_window_s: float | None = None,
    rounds: Rounds | None = None,
) -> Batch:
    """What a message on `topic` means for the store (bad input becomes rejects).

    Readings timed more than ``late_window_s`` before ``received_at`` are rejected
    ``too_old`` (None: no limit), so back-dated readings cannot rewrite past days.
    `rounds` holds the ESPHome values still waiting for the rest of their reading."""
    if not topic.startswith("meter/"):
        foreign = foreign_topic(topic)
        if foreign is not None:
            return decode_foreign(foreign, topic, payload, received_at, rounds or Rounds())
    batch = Batch()
    try:
        _, kind = parse_topic(topic)
    except ValueError as exc:
        foreign = foreign_topic(topic)  # an ESPHome node called "meter": meter/status
        if foreign is not None:
            return decode_foreign(foreign, topic, payload, received_at, rounds or Rounds())
        batch.rejects.append(_topic_reject(topic, payload, received_at, str(exc)))
        return batch
    if kind == "data":
        decoded = decode_data(topic, payload, received_at)
        batch.readings = decoded.readings
        batch.rejects = decoded.rejects
        if late_window_s is not None and decoded.readings:
            oldest = received_at - late_window_s
            if any(r.ts < oldest for r in decoded.readings):
                _drop_too_old(batch, topic, oldest, received_at, late_window_s)
    elif kind == "status":
        if not payload:
            return batch  # a retained status being cleared: nothing to record
        status = decode_status(topic, payload, received_at)
        if isinstance(status, StatusUpdate) and status.serial is None:
            batch.rejects.append(
                _topic_reject(
                    topic,
                    payload,
                    received_at,
                    "status from a topic id that is not a valid serial, without a serial_number",
                    "bad_serial",
                )
            )
        elif isinstance(status, StatusUpdate):
            batch.statuses.append(status)
        else:
            batch.rejects.append(status)
    elif kind == "control/ack":
        ack = decode_ack(topic, payload, received_at)
        if isinstance(ack, Reject):
            batch.rejects.append(ack)
        else:
            batch.acks.append(ack)
    return batch


def _drop_too_old(
    batch: Batch, topic: str, oldest: float, received_at: float, window_s: float
) -> None:
    kept = []
    for reading in batch.readings:
        if reading.ts >= oldest:
            kept.append(reading)
            continue
        batch.rejects.append(
            Reject(
                reason="too_old",
                detail=f"reading timed {(received_at - reading.ts) / 86400:.1f} days before "
                f"it arrived, more than the late window of {window_s / 86400:g} days; "
                "back-fill history with `meterhub import`",
                topic=topic,
                raw=raw_text(orjson.dumps(reading)),
                received_at=received_at,
                field="timestamp",
                serial=reading.serial,
            )
        )
    batch.readings = kept


def _topic_reject(
    topic: str,
    payload: bytes | bytearray,
    received_at: float,
    why: str,
    reason: Reason = "bad_topic",
) -> Reject:
    return Reject(
        reason=reason,
        detail=why[:200],
        topic=topic,
        raw=raw_text(payload),
        received_at=received_at,
    )
