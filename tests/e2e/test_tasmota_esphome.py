"""Tasmota and ESPHome devices through real Mosquitto and the real ingest process: their
streams become readings equal to the same values sent as meterhub v1; LWT and ESPHome
status move them online and offline; an unknown Tasmota topic becomes a pending device."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import select, text

from meterhub.db.models import Device
from tests.support import Mosquitto, wait_for

from .conftest import Ingest

VALUES = [  # voltage, current, power, energy kWh, frequency, pf
    (230.1, 1.52, 345.6, 12.345, 50.0, 0.98),
    (229.4, 2.01, 452.0, 12.351, 49.9, 0.97),
    (231.0, 0.5, 100.25, 12.36, 50.1, 0.9),
]
COLUMNS = "voltage, current, power, energy, frequency, pf"


def client(port: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"e2e-{uuid.uuid4().hex[:8]}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def publish(c: mqtt.Client, topic: str, payload: bytes | str, retain: bool = False) -> None:
    c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)


def rows(ctx: Any, serial: str, with_ts: bool = True) -> list[tuple[Any, ...]]:
    cols = f"r.ts, {COLUMNS}" if with_ts else COLUMNS
    with ctx.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    f"SELECT {cols} FROM readings r JOIN devices d ON d.id = r.device_id "
                    "WHERE d.serial_number = :s ORDER BY r.ts"
                ),
                {"s": serial},
            )
        ]


def device(ctx: Any, serial: str) -> Device | None:
    with ctx.sessions() as db:
        found: Device | None = db.scalar(select(Device).where(Device.serial_number == serial))
        return found


def create(api: Any, serial: str, protocol: str, topic_id: str | None = None) -> dict[str, Any]:
    body = {"serial_number": serial, "protocol": protocol, "topic_id": topic_id}
    res = api.post("/api/devices", json=body)
    assert res.status_code == 201, res.text
    got: dict[str, Any] = res.json()
    assert (got["protocol"], got["topic_id"]) == (protocol, topic_id)
    return got


def test_tasmota_stream_equals_v1(
    mosquitto: Mosquitto, ingest: Ingest, ctx: Any, web_api: Any
) -> None:
    create(web_api, "PLUG-T1", "tasmota", "tasmota_1A2B3C")
    create(web_api, "REF-T1", "meterhub")
    c = client(mosquitto.port)
    try:
        publish(c, "tele/tasmota_1A2B3C/LWT", "Online", retain=True)
        wait_for(lambda: (d := device(ctx, "PLUG-T1")) is not None and d.online, 15, "no LWT")
        base = int(time.time()) - 60
        zone = timezone(timedelta(hours=1))
        for n, (v, i, p, e, f, pf) in enumerate(VALUES):
            at = datetime.fromtimestamp(base + 10 * n, zone).replace(tzinfo=None).isoformat()
            energy = {"Total": e, "Power": p, "Voltage": v, "Current": i, "Frequency": f,
                      "Factor": pf, "Today": 0.2, "Period": 1}  # fmt: skip
            publish(
                c,
                "tele/tasmota_1A2B3C/SENSOR",
                orjson.dumps({"Time": at + "+01:00", "ENERGY": energy}),
            )
            v1 = {"serial_number": "REF-T1", "timestamp": base + 10 * n, "voltage": v,
                  "current": i, "power": p, "energy": e, "frequency": f, "pf": pf}  # fmt: skip
            publish(c, "meter/REF-T1/data", orjson.dumps(v1))
        publish(c, "tele/tasmota_9/SENSOR", orjson.dumps({"ENERGY": {"Voltage": [1, 2]}}))
        publish(c, "tele/tasmota_NEW/SENSOR", orjson.dumps({"Time": "2026-01-01T00:00:00",
                "ENERGY": {"Total": 1.0, "Power": 5, "Voltage": 230, "Current": 0.1}}))  # fmt: skip
        wait_for(lambda: len(rows(ctx, "REF-T1")) == 3 and len(rows(ctx, "PLUG-T1")) == 3, 15,
                 "readings missing")  # fmt: skip
        assert rows(ctx, "PLUG-T1") == rows(ctx, "REF-T1")
        wait_for(lambda: device(ctx, "tasmota_NEW") is not None, 15, "no pending device")
        new = device(ctx, "tasmota_NEW")
        assert new is not None
        assert (new.status, new.protocol, new.topic_id) == ("pending", "tasmota", "tasmota_NEW")
        with ctx.engine.connect() as conn:
            reasons = conn.execute(text("SELECT reason FROM ingest_rejects")).scalars().all()
        assert "tasmota_multiphase" in reasons
        # a device with a zone: its local Time (no offset) is its reading's time
        zoned = create(web_api, "PLUG-Z", "tasmota", "tasmota_ZZ")
        res = web_api.put(f"/api/devices/{zoned['id']}", json={"timezone": "America/New_York"})
        assert res.status_code == 200 and res.json()["timezone"] == "America/New_York"
        local = datetime.fromtimestamp(base, ZoneInfo("America/New_York")).replace(tzinfo=None)
        publish(c, "tele/tasmota_ZZ/SENSOR", orjson.dumps({"Time": local.isoformat(),
                "ENERGY": {"Total": 1.0, "Power": 5, "Voltage": 230, "Current": 0.1}}))  # fmt: skip
        wait_for(lambda: len(rows(ctx, "PLUG-Z")) == 1, 15, "no zoned reading")
        assert rows(ctx, "PLUG-Z")[0][0] == base * 1000  # epoch ms
        new_ts = rows(ctx, "tasmota_NEW")[0][0]  # no zone: the receive time, not 2026-01-01
        assert new_ts > base * 1000
        publish(c, "tele/tasmota_1A2B3C/LWT", "Offline", retain=True)
        wait_for(lambda: (d := device(ctx, "PLUG-T1")) is not None and not d.online, 15, "LWT")
    finally:
        c.loop_stop()
        c.disconnect()


def test_esphome_stream_equals_v1(
    mosquitto: Mosquitto, ingest: Ingest, ctx: Any, web_api: Any
) -> None:
    made = create(web_api, "ESP-1", "esphome")  # its serial is its prefix: no topic id
    res = web_api.put(f"/api/devices/{made['id']}", json={"topic_id": "esp-kitchen"})
    assert res.status_code == 200 and res.json()["topic_id"] == "esp-kitchen", res.text
    create(web_api, "REF-E1", "meterhub")
    c = client(mosquitto.port)
    try:
        publish(c, "esp-kitchen/status", "online")
        publish(c, "homeassistant/status", "online")  # not an ESPHome device: ignored
        wait_for(lambda: (d := device(ctx, "ESP-1")) is not None and d.online, 15, "no status")
        for v, i, p, e, f, pf in VALUES:
            for name, value in (("pzem_voltage", v), ("pzem_current", i), ("pzem_power", p),
                                ("pzem_energy", round(e * 1000)), ("pzem_frequency", f),
                                ("pzem_power_factor", pf)):  # fmt: skip
                publish(c, f"esp-kitchen/sensor/{name}/state", str(value))
            v1 = {"serial_number": "REF-E1", "voltage": v, "current": i, "power": p,
                  "energy": e, "frequency": f, "pf": pf}  # fmt: skip
            publish(c, "meter/REF-E1/data", orjson.dumps(v1))
            time.sleep(0.05)  # distinct receive times
        wait_for(lambda: len(rows(ctx, "REF-E1")) == 3 and len(rows(ctx, "ESP-1")) == 3, 15,
                 "readings missing")  # fmt: skip
        assert rows(ctx, "ESP-1", with_ts=False) == rows(ctx, "REF-E1", with_ts=False)
        publish(c, "esp-kitchen/status", "offline")
        wait_for(lambda: (d := device(ctx, "ESP-1")) is not None and not d.online, 15, "status")
        assert device(ctx, "homeassistant") is None
    finally:
        c.loop_stop()
        c.disconnect()
