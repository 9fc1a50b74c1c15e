"""The real firmware (MicroPython) configured with a `device_id` other than its serial, so
it publishes and listens on `meter/ROOM-E2E/...`. An admin registered the device and set
its topic id first (topic ids are never learned from payloads): its readings are stored
under its serial,
a command sent through the API reaches it and is acknowledged, and when it dies the
broker's last will (a plain "offline" on its topic id) marks that device offline instead
of inventing a pending device called ROOM-E2E."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from meterhub.db.models import Device
from meterhub.firmware.virtual import VirtualFleet, serial_for
from tests.support import Mosquitto, wait_for

from .conftest import Ingest, seqs
from .test_pipeline import need_micropython

TOPIC_ID = "ROOM-E2E"
SECRET = "e2e-command-secret-0123456789abcdef"
"""The meter's command key, as `meterhub firmware configure` provisions it (meter + DB)."""


@pytest.fixture
def registered(web_api: Any, ctx: Any) -> dict[str, Any]:
    """The admin's part, before the meter is switched on: register it, set its topic id
    and its command key."""
    created = web_api.post("/api/devices", json={"serial_number": serial_for(0)})
    assert created.status_code == 201, created.text
    changed = web_api.put(f"/api/devices/{created.json()['id']}", json={"topic_id": TOPIC_ID})
    assert changed.status_code == 200, changed.text
    body: dict[str, Any] = changed.json()
    assert body["topic_id"] == TOPIC_ID
    with ctx.sessions() as db:
        stored = db.get(Device, body["id"])
        assert stored is not None
        stored.command_secret = SECRET
        db.commit()
    return body


@pytest.fixture
def meter(
    mosquitto: Mosquitto, tmp_path: Path, registered: dict[str, Any]
) -> Iterator[VirtualFleet]:
    need_micropython()
    fleet = VirtualFleet(
        1, 1.0, mosquitto.url, workdir=tmp_path / "meters", fast=True, log=lambda _: None
    )
    flash = fleet.flash_dir(0)
    flash.mkdir(parents=True)
    (flash / "config.json").write_text(
        json.dumps(
            {
                "wifi_ssid": "virtual",
                "wifi_password": "virtual",
                "mqtt_host": "127.0.0.1",
                "mqtt_port": mosquitto.port,
                "serial_number": serial_for(0),
                "device_id": TOPIC_ID,
                "command_secret": SECRET,
                "reading_interval": 1,
            }
        )
    )
    fleet.start()
    yield fleet
    fleet.stop()


def device(ctx: Any, serial: str) -> Device | None:
    with ctx.sessions() as db:
        found: Device | None = db.scalar(select(Device).where(Device.serial_number == serial))
        return found


def test_a_meter_on_its_own_topic_id(
    mosquitto: Mosquitto,
    ingest: Ingest,
    meter: VirtualFleet,
    ctx: Any,
    web_api: Any,
    tmp_path: Path,
) -> None:
    serial = serial_for(0)
    log = tmp_path / "meters" / f"{serial}.log"

    def stored() -> bool:
        meter.poll()
        return len(seqs(ctx, serial)) >= 3

    wait_for(stored, 30, f"no readings from the meter:\n{log.read_text()[-1500:]}", step=0.3)
    known = device(ctx, serial)
    assert known is not None and known.topic_id == TOPIC_ID and known.online

    target = {d["serial_number"]: d for d in web_api.get("/api/devices").json()}[serial]
    url = f"/api/devices/{target['id']}/commands"
    sent = web_api.post(url, json={"cmd": "identify", "args": {"seconds": 1}})
    assert sent.status_code == 202, sent.text

    def answered() -> dict[str, Any] | None:
        meter.poll()
        got: dict[str, Any] = web_api.get(f"{url}/{sent.json()['id']}").json()
        return got if got["status"] != "pending" else None

    result = wait_for(answered, 20, f"no answer:\n{log.read_text()[-1500:]}", step=0.3)
    assert (result["status"], result["error"]) == ("acked", None)

    os.kill(meter.procs[0].pid, signal.SIGKILL)  # no goodbye: the broker sends its last will
    meter.procs[0].wait(5)

    def offline() -> bool:
        found = device(ctx, serial)
        return found is not None and not found.online

    wait_for(offline, 20, "the last will did not mark the meter offline")
    assert device(ctx, TOPIC_ID) is None, "the last will made a pending device of the topic id"
