"""What one MQTT message means for the store: the topic picks the decoder (readings,
status, command acknowledgement); anything malformed becomes a reject with its reason.
Data and status messages also say which topic id their device uses (a device whose
`serial_number` differs from the <id> in its topics listens for commands on that <id>,
and its last will arrives there without a serial).
Tasmota and ESPHome topics go to ingest/foreign.py. Pure but for ESPHome's open rounds
(`rounds`): the writer process calls it on the raw messages ingest hands over."""

from __future__ import annotations

from meterhub.ingest.foreign import decode_foreign
from meterhub.protocol.esphome import Rounds
from meterhub.protocol.readings import decode_data
from meterhub.protocol.rejects import Reason, Reject
from meterhub.protocol.rules import is_valid_serial, raw_text
from meterhub.protocol.status import StatusUpdate, decode_ack, decode_status
from meterhub.protocol.topics import foreign_topic, parse_topic
from meterhub.store import Batch


def decode_message(
    topic: str, payload: bytes | bytearray, received_at: float, rounds: Rounds | None = None
) -> Batch:
    """What a message on `topic` means for the store (bad input becomes rejects).
    `rounds` holds the ESPHome values still waiting for the rest of their reading."""
    if not topic.startswith("meter/"):
        foreign = foreign_topic(topic)
        if foreign is not None:
            return decode_foreign(foreign, topic, payload, received_at, rounds or Rounds())
    batch = Batch()
    try:
        topic_id, kind = parse_topic(topic)
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
        if decoded.readings and is_valid_serial(topic_id):  # where it listens for commands
            batch.topic_ids = {decoded.readings[0].serial: topic_id}
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
            if status.serial is not None and is_valid_serial(topic_id):
                batch.topic_ids = {status.serial: topic_id}
        else:
            batch.rejects.append(status)
    elif kind == "control/ack":
        ack = decode_ack(topic, payload, received_at)
        if isinstance(ack, Reject):
            batch.rejects.append(ack)
        else:
            batch.acks.append(ack)
    return batch


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
