"""What a Tasmota or ESPHome message means for the store (see protocol/tasmota.py and
protocol/esphome.py): readings and statuses tagged with their protocol, whose ``serial``
is still the topic id (the store resolves it), or rejects."""

from __future__ import annotations

from meterhub.protocol import esphome, tasmota
from meterhub.protocol.rejects import Reject
from meterhub.protocol.topics import ForeignTopic
from meterhub.store import Batch


def decode_foreign(
    parsed: ForeignTopic,
    topic: str,
    payload: bytes | bytearray,
    received_at: float,
    rounds: esphome.Rounds,
) -> Batch:
    """One message on a Tasmota/ESPHome topic (``parsed`` by ``topics.foreign_topic``)."""
    protocol, topic_id, kind, object_id = parsed
    batch = Batch()
    if kind == "status":
        if not payload:
            return batch  # a retained status being cleared
        decode = tasmota.decode_lwt if protocol == "tasmota" else esphome.decode_status
        status = decode(topic, topic_id, payload, received_at)
        if isinstance(status, Reject):
            batch.rejects.append(status)
        else:
            batch.foreign_statuses.append((protocol, status))
    elif protocol == "tasmota":
        decoded = tasmota.decode_sensor(topic, topic_id, payload, received_at)
        if isinstance(decoded, Reject):
            batch.rejects.append(decoded)
        else:
            batch.foreign_readings.append((protocol, *decoded))
    else:
        readings, batch.rejects = rounds.add(topic, topic_id, object_id, payload, received_at)
        batch.foreign_readings = [(protocol, r, None) for r in readings]
    return batch
