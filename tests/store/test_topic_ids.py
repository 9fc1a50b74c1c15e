"""A device whose `serial_number` is not the <id> in its topics (the firmware's
`device_id` setting; the C++ firmware's device_id): the store learns that <id> from its
messages, a last will on it (a plain "offline", no serial) reaches the right device, and
commands are published where the device listens. SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from sqlalchemy import select

from meterhub.db.models import Device
from meterhub.ingest.messages import decode_message
from meterhub.services.commands import control_topic
from meterhub.store import TelemetryStore


def send(store: TelemetryStore, topic: str, payload: bytes | str) -> None:
    raw = payload.encode() if isinstance(payload, str) else payload
    store.write(decode_message(topic, raw, time.time()))


def data(serial: str, seq: int) -> bytes:
    return orjson.dumps(
        {
            "serial_number": serial,
            "seq": seq,
            "timestamp": time.time() - 60 + seq,
            "voltage": 230.0,
            "current": 1.0,
            "power": 230.0,
            "energy": 1.0 + seq / 1000,
        }
    )


def devices(ctx: Any) -> dict[str, Device]:
    with ctx.sessions() as db:
        return {d.serial_number: d for d in db.scalars(select(Device))}


def test_the_topic_id_is_learned_and_the_last_will_reaches_the_device(ctx: Any) -> None:
    serial, topic_id = f"PZEM-{uuid.uuid4().hex[:6].upper()}", "KITCHEN-1"
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{topic_id}/data", data(serial, 1))
    found = devices(ctx)
    assert found[serial].topic_id == topic_id and found[serial].online
    assert control_topic(found[serial]) == f"meter/{topic_id}/control"

    # The last will carries no serial: it is the device that publishes on KITCHEN-1.
    send(store, f"meter/{topic_id}/status", "offline")
    found = devices(ctx)
    assert not found[serial].online
    assert topic_id not in found, "the last will made a pending device of the topic id"

    # A restarted writer knows it from the database.
    send(store, f"meter/{topic_id}/status", "online")
    restarted = TelemetryStore(ctx.engine)
    send(restarted, f"meter/{topic_id}/status", "offline")
    assert not devices(ctx)[serial].online
    assert topic_id not in devices(ctx)


def test_a_device_back_on_its_serial_forgets_the_old_topic_id(ctx: Any) -> None:
    serial = f"PZEM-{uuid.uuid4().hex[:6].upper()}"
    store = TelemetryStore(ctx.engine)
    send(store, "meter/ROOM-2/data", data(serial, 1))
    assert devices(ctx)[serial].topic_id == "ROOM-2"
    send(store, f"meter/{serial}/data", data(serial, 2))
    device = devices(ctx)[serial]
    assert device.topic_id is None
    assert control_topic(device) == f"meter/{serial}/control"
    # ROOM-2 means nothing now: its last will is a device of its own (pending), not ours.
    send(store, "meter/ROOM-2/status", "offline")
    assert devices(ctx)[serial].online
    assert devices(ctx)["ROOM-2"].status == "pending"


def test_a_status_naming_its_serial_teaches_the_topic_id_too(ctx: Any) -> None:
    serial = f"PZEM-{uuid.uuid4().hex[:6].upper()}"
    store = TelemetryStore(ctx.engine)
    send(
        store,
        "meter/HALL/status",
        orjson.dumps({"state": "online", "serial_number": serial, "firmware_version": "1.0.0"}),
    )
    assert devices(ctx)[serial].topic_id == "HALL"
    send(store, "meter/HALL/status", "offline")
    assert not devices(ctx)[serial].online


def test_serial_and_topic_id_alike_store_nothing_extra(ctx: Any) -> None:
    serial = f"PZEM-{uuid.uuid4().hex[:6].upper()}"
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{serial}/data", data(serial, 1))
    device = devices(ctx)[serial]
    assert device.topic_id is None
    assert control_topic(device) == f"meter/{serial}/control"


def test_a_topic_id_that_is_another_devices_serial_stays_that_devices(ctx: Any) -> None:
    """Two devices sharing a topic is a wiring mistake; the device whose serial the topic
    id is keeps its own last will."""
    own, other = f"PZEM-{uuid.uuid4().hex[:6].upper()}", f"PZEM-{uuid.uuid4().hex[:6].upper()}"
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{own}/data", data(own, 1))
    send(store, f"meter/{own}/data", data(other, 1))  # the other one publishes on it too
    assert devices(ctx)[other].topic_id == own
    send(store, f"meter/{own}/status", "offline")
    assert not devices(ctx)[own].online and devices(ctx)[other].online
