"""Tasmota and ESPHome messages reach the device with that protocol and topic id, follow an
admin's change of it at once, and are refused (not stored under another device) when the
topic id is the serial of a device speaking another protocol. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import select, text

from meterhub.db.models import Device
from meterhub.ingest.messages import decode_message
from meterhub.protocol.esphome import Rounds
from meterhub.store import TelemetryStore

ENERGY = {"Total": 2.5, "Power": 100, "Voltage": 231, "Current": 0.5}


def send(store: TelemetryStore, topic: str, payload: bytes | str, rounds: Rounds) -> None:
    raw = payload.encode() if isinstance(payload, str) else payload
    store.write(decode_message(topic, raw, time.time(), rounds))


def counts(ctx: Any) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT d.serial_number, COUNT(r.ts) FROM devices d "
                    "LEFT JOIN readings r ON r.device_id = d.id GROUP BY d.serial_number"
                )
            ).all()
        )


def reasons(ctx: Any) -> list[str]:
    with ctx.engine.connect() as conn:
        return list(conn.execute(text("SELECT reason FROM ingest_rejects ORDER BY id")).scalars())


def test_resolution_by_protocol_and_topic_id(ctx: Any) -> None:
    rounds = Rounds()
    store = TelemetryStore(ctx.engine)
    with ctx.sessions() as db:
        db.add(Device(serial_number="PLUG", protocol="tasmota", topic_id="t1"))
        db.add(Device(serial_number="METER", protocol="meterhub"))
        db.add(Device(serial_number="esp2", protocol="esphome"))
        db.commit()
    sensor = orjson.dumps({"ENERGY": ENERGY})
    send(store, "tele/t1/SENSOR", sensor, rounds)  # -> PLUG
    send(store, "tele/METER/SENSOR", sensor, rounds)  # a meterhub device: refused
    send(store, "tele/bad:id:too:long:" + "x" * 60 + "/SENSOR", sensor, rounds)
    send(store, "esp2/status", "online", rounds)  # serial == prefix, protocol esphome
    send(store, "t1/status", "online", rounds)  # t1 is a Tasmota topic, not ESPHome: ignored
    assert counts(ctx) == {"PLUG": 1, "METER": 0, "esp2": 0}
    assert reasons(ctx) == ["protocol_mismatch", "bad_serial"]
    with ctx.sessions() as db:
        online = {d.serial_number: d.online for d in db.scalars(select(Device))}
        assert online == {"PLUG": True, "METER": False, "esp2": True}  # a reading: online
        # the admin moves the plug to another topic: the old one is unknown from now on
        db.execute(Device.__table__.update().where(Device.serial_number == "PLUG").values(
            topic_id="t2"))  # fmt: skip
        db.commit()
    send(store, "tele/t2/SENSOR", sensor, rounds)
    send(store, "tele/t1/SENSOR", sensor, rounds)
    assert counts(ctx) == {"PLUG": 2, "METER": 0, "esp2": 0, "t1": 1}
    with ctx.sessions() as db:
        t1 = db.scalar(select(Device).where(Device.serial_number == "t1"))
        assert t1 is not None and (t1.status, t1.protocol, t1.topic_id) == (
            "pending",
            "tasmota",
            "t1",
        )
