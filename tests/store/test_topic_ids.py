"""Identity binding: a message belongs to its topic's device. ``meter/<id>/...`` is the
device an admin gave topic id ``<id>``, else the device whose serial is ``<id>`` (new:
pending, serial = ``<id>``). A payload serial naming another device is a dead letter
``serial_mismatch``; topic ids are never learned from payloads, so no meter can move
another's topic id, answer its commands or write its readings. SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from meterhub.db.models import Device, DeviceCommand, IngestReject, Reading
from meterhub.db.types import utcnow
from meterhub.ingest.messages import decode_message
from meterhub.services import devices as device_service
from meterhub.services.commands import control_topic
from meterhub.store import TelemetryStore
from meterhub.store import devices as store_devices


def send(store: TelemetryStore, topic: str, payload: bytes | str) -> None:
    raw = payload.encode() if isinstance(payload, str) else payload
    store.write(decode_message(topic, raw, time.time()))


def data(serial: str | None, seq: int) -> dict[str, Any]:
    reading: dict[str, Any] = {
        "seq": seq,
        "timestamp": time.time() - 60 + seq,
        "voltage": 230.0,
        "current": 1.0,
        "power": 230.0,
        "energy": 1.0 + seq / 1000,
    }
    if serial is not None:
        reading["serial_number"] = serial
    return reading


def new_serial() -> str:
    return f"PZEM-{uuid.uuid4().hex[:6].upper()}"


def devices(ctx: Any) -> dict[str, Device]:
    with ctx.sessions() as db:
        return {d.serial_number: d for d in db.scalars(select(Device))}


def readings_of(ctx: Any, serial: str) -> int:
    with ctx.sessions() as db:
        return db.scalar(
            select(func.count())
            .select_from(Reading)
            .join(Device, Device.id == Reading.device_id)
            .where(Device.serial_number == serial)
        )


def rejects(ctx: Any) -> list[IngestReject]:
    with ctx.sessions() as db:
        return list(db.scalars(select(IngestReject).order_by(IngestReject.id)))


def registered(ctx: Any, serial: str, topic_id: str | None = None) -> Device:
    """A device an admin registered (and gave a topic id)."""
    with ctx.sessions() as db:
        device = device_service.create(db, None, serial)
        if topic_id is not None:
            device_service.update(db, None, device, {"topic_id": topic_id})
        db.commit()
        db.refresh(device)
        return device


def test_an_admins_topic_id_binds_the_meter_and_its_last_will(ctx: Any) -> None:
    serial, topic_id = new_serial(), f"KITCHEN-{uuid.uuid4().hex[:4]}"
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{serial}/data", orjson.dumps(data(serial, 0)))  # on its serial first
    registered_later = devices(ctx)[serial]
    with ctx.sessions() as db:
        device = db.get(Device, registered_later.id)
        assert device is not None
        device_service.update(db, None, device, {"topic_id": topic_id})
        db.commit()
    # The same writer (its cache of topic ids says nothing of this one yet) binds it.
    send(store, f"meter/{topic_id}/data", orjson.dumps(data(serial, 1)))  # the C++ shape too:
    send(store, f"meter/{topic_id}/data", orjson.dumps(data(None, 2)))  # no serial_number
    found = devices(ctx)
    assert topic_id not in found, "a topic id an admin set made a pending device"
    assert readings_of(ctx, serial) == 3 and found[serial].online
    assert control_topic(found[serial]) == f"meter/{topic_id}/control"
    send(store, f"meter/{topic_id}/status", "offline")  # its last will names no serial
    assert not devices(ctx)[serial].online
    restarted = TelemetryStore(ctx.engine)
    send(restarted, f"meter/{topic_id}/status", "online")
    assert devices(ctx)[serial].online and topic_id not in devices(ctx)
    assert not rejects(ctx)


def test_topic_ids_are_not_learned_from_payloads(ctx: Any) -> None:
    serial = new_serial()
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{serial}/data", orjson.dumps(data(serial, 0)))
    send(store, "meter/ROOM-2/data", orjson.dumps(data(serial, 1)))
    send(
        store,
        "meter/HALL/status",
        orjson.dumps({"state": "offline", "serial_number": serial}),
    )
    device = devices(ctx)[serial]
    assert device.topic_id is None and device.online
    assert readings_of(ctx, serial) == 1
    assert control_topic(device) == f"meter/{serial}/control"
    assert [(r.reason, r.topic) for r in rejects(ctx)] == [
        ("serial_mismatch", "meter/ROOM-2/data"),
        ("serial_mismatch", "meter/HALL/status"),
    ]
    # Neither topic id became a device: the payload named another serial.
    assert "ROOM-2" not in devices(ctx) and "HALL" not in devices(ctx)


def test_serial_mismatch_for_single_batch_item_and_status(ctx: Any) -> None:
    a, b = new_serial(), new_serial()
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{a}/data", orjson.dumps(data(a, 0)))
    send(store, f"meter/{b}/data", orjson.dumps(data(b, 0)))
    assert devices(ctx)[b].online
    send(store, f"meter/{a}/data", orjson.dumps(data(b, 1)))  # single
    batch = {"readings": [data(None, 2), data(b, 3), data(a, 4)]}
    send(store, f"meter/{a}/data", orjson.dumps(batch))  # one batch item
    send(store, f"meter/{a}/status", orjson.dumps({"state": "offline", "serial_number": b}))
    envelope = {"serial_number": b, "readings": [data(None, 5)]}
    send(store, f"meter/{a}/data", orjson.dumps(envelope))  # the batch's own serial
    assert readings_of(ctx, a) == 3 and readings_of(ctx, b) == 1
    assert devices(ctx)[b].online, "A's status moved B offline"
    kept = rejects(ctx)
    assert [r.reason for r in kept] == ["serial_mismatch"] * 4
    assert {r.serial for r in kept} == {b}
    assert all(r.topic.startswith(f"meter/{a}/") and b in r.payload for r in kept)


def test_another_meter_cannot_move_b_or_answer_its_commands(ctx: Any) -> None:
    a, b, b_topic = new_serial(), new_serial(), f"ROOM-{uuid.uuid4().hex[:4]}"
    registered(ctx, a)
    device_b = registered(ctx, b, b_topic)
    with ctx.sessions() as db:
        db.add_all(
            DeviceCommand(
                id=command_id,
                device_id=device_b.id,
                cmd="ping",
                status="pending",
                expires_at=utcnow() + timedelta(minutes=5),
            )
            for command_id in ("cmd-b-1", "cmd-b-2")
        )
        db.commit()
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{a}/data", orjson.dumps(data(b, 0)))
    send(store, f"meter/{a}/status", orjson.dumps({"state": "online", "serial_number": b}))
    send(store, f"meter/{a}/control/ack", orjson.dumps({"id": "cmd-b-1", "ok": True}))
    assert devices(ctx)[b].topic_id == b_topic
    # B itself answers on its topic id; its serial's topic is not where it listens.
    send(store, f"meter/{b_topic}/control/ack", orjson.dumps({"id": "cmd-b-2", "ok": False}))
    with ctx.sessions() as db:
        status = {c.id: c.status for c in db.scalars(select(DeviceCommand))}
    assert status == {"cmd-b-1": "pending", "cmd-b-2": "failed"}
    assert readings_of(ctx, b) == 0


def test_pending_devices_come_only_from_topic_ids(ctx: Any) -> None:
    topic_id, claimed = new_serial(), new_serial()
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{topic_id}/data", orjson.dumps(data(None, 0)))
    send(store, f"meter/{topic_id}/data", orjson.dumps(data(claimed, 1)))
    found = devices(ctx)
    assert found[topic_id].status == "pending" and claimed not in found
    assert [r.reason for r in rejects(ctx)] == ["serial_mismatch"]


def test_a_topic_id_that_is_no_serial_is_a_dead_letter(ctx: Any) -> None:
    store = TelemetryStore(ctx.engine)
    serial = new_serial()
    send(store, "meter/a b/data", orjson.dumps(data(serial, 0)))
    assert serial not in devices(ctx)
    assert [r.reason for r in rejects(ctx)] == ["bad_topic"]


def test_data_beyond_the_pending_cap_is_a_dead_letter_with_its_payload(
    ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_devices, "MAX_PENDING_DEVICES", 1)
    first, second = new_serial(), new_serial()
    store = TelemetryStore(ctx.engine)
    send(store, f"meter/{first}/data", orjson.dumps(data(None, 0)))
    send(store, f"meter/{second}/data", orjson.dumps(data(None, 0)))
    assert first in devices(ctx) and second not in devices(ctx)
    kept = rejects(ctx)
    assert [(r.reason, r.serial) for r in kept] == [("too_many_pending", second)]
    assert '"voltage":230.0' in kept[0].payload
