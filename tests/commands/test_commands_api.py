"""POST/GET /api/devices/{id}/commands on SQLite and PostgreSQL: validation, access, the
message on the broker, the device's answer through ingest, time-outs, a missing broker."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select

from meterhub.broker.url import BrokerTarget
from meterhub.db.models import AuditEntry, DeviceCommand
from meterhub.ingest.messages import decode_message
from meterhub.services import commands
from meterhub.store import Batch, TelemetryStore
from tests.support import free_port

from .conftest import Listener


def stored(ctx: Any, command_id: str) -> DeviceCommand:
    with ctx.sessions() as db:
        row = db.get(DeviceCommand, command_id)
        assert row is not None
        db.expunge(row)
        return row


def answer(
    ctx: Any, serial: str, command_id: str, ok: bool = True, error: str | None = None
) -> None:
    """The device's ack, as ingest decodes and writes it."""
    payload = orjson.dumps({"id": command_id, "ok": ok, "error": error})
    batch = decode_message(f"meter/{serial}/control/ack", payload, time.time())
    assert batch.acks and not batch.rejects
    TelemetryStore(ctx.engine).write(batch)


# -- validation and access ----------------------------------------------------------------
def test_bad_commands_are_422_and_not_stored(
    admin_api: Any, device: dict[str, Any], ctx: Any
) -> None:
    url = f"/api/devices/{device['id']}/commands"
    cases = [
        ({"cmd": "self_destruct"}, "cmd", "unknown command 'self_destruct'"),
        ({"cmd": "set_interval", "args": {"seconds": 0}}, "args.seconds", "between 1 and 3600"),
        ({"cmd": "set_interval"}, "args.seconds", "needs args.seconds"),
        ({"cmd": "set_alarm_threshold", "args": {"watts": 99999}}, "args.watts", "23000"),
        ({"cmd": "reboot", "args": {"force": 1}}, "args.force", "does not take force"),
        (
            {"cmd": "ota", "args": {"version": "9.9.9"}},
            "args.version",
            "no firmware bundle '9.9.9' was uploaded",
        ),
        ({"cmd": "identify", "extra": 1}, "extra", "Extra inputs are not permitted"),
        ({"cmd": "identify", "args": [1]}, "args", "valid dictionary"),
        ({"args": {}}, "cmd", "Field required"),
    ]
    for body, field, words in cases:
        res = admin_api.post(url, json=body)
        assert res.status_code == 422, (body, res.text)
        assert res.json()["field"] == field, res.text
        assert words in res.json()["error"], res.text
    with ctx.sessions() as db:
        assert db.scalars(select(DeviceCommand)).all() == []


def test_users_are_refused_and_unknown_devices_are_404(
    admin_api: Any, make_user: Any, device: dict[str, Any], ctx: Any
) -> None:
    alice = make_user("alice", (device["id"],))  # may see the device, may not control it
    url = f"/api/devices/{device['id']}/commands"
    for api in (alice, make_user("bob")):
        assert api.post(url, json={"cmd": "reboot"}).status_code == 403
        assert api.get(url).status_code == 403
        assert api.get(f"{url}/whatever").status_code == 403
    res = admin_api.post("/api/devices/999999/commands", json={"cmd": "reboot"})
    assert res.status_code == 404 and res.json()["error"] == "device 999999 not found"
    assert admin_api.get("/api/devices/999999/commands").status_code == 404
    with ctx.sessions() as db:
        assert db.scalars(select(DeviceCommand)).all() == []


def test_tasmota_and_esphome_devices_take_no_commands(admin_api: Any, ctx: Any) -> None:
    for protocol in ("tasmota", "esphome"):
        made = admin_api.post(
            "/api/devices", json={"serial_number": f"X-{protocol}", "protocol": protocol}
        ).json()
        res = admin_api.post(f"/api/devices/{made['id']}/commands", json={"cmd": "reboot"})
        assert res.status_code == 409 and f"runs {protocol}" in res.json()["error"], res.text
    with ctx.sessions() as db:
        assert db.scalars(select(DeviceCommand)).all() == []


# -- the broker -----------------------------------------------------------------------------
def test_command_reaches_the_device_topic_and_its_ack_is_recorded(
    admin_api: Any, device: dict[str, Any], control: Listener, ctx: Any
) -> None:
    url = f"/api/devices/{device['id']}/commands"
    res = admin_api.post(url, json={"cmd": "set_interval", "args": {"seconds": 30}})
    assert res.status_code == 202, res.text
    sent = res.json()
    assert sent["status"] == "pending" and sent["cmd"] == "set_interval"
    assert [m for m in control.wait(1)] == [
        {"id": sent["id"], "cmd": "set_interval", "args": {"seconds": 30}}
    ]

    assert admin_api.get(f"{url}/{sent['id']}").json()["status"] == "pending"
    answer(ctx, device["serial_number"], sent["id"])
    got = admin_api.get(f"{url}/{sent['id']}").json()
    assert (got["status"], got["error"]) == ("acked", None)
    assert got["answered_at"] is not None and got["args"] == {"seconds": 30}

    with ctx.sessions() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "device.command")).one()
        assert entry.actor_name == "root" and entry.target_id == str(device["id"])
        assert entry.detail == {
            "command_id": sent["id"],
            "cmd": "set_interval",
            "args": {"seconds": 30},
            "serial": device["serial_number"],
        }


def test_a_failed_answer_keeps_the_devices_reason(
    admin_api: Any, device: dict[str, Any], control: Listener, ctx: Any
) -> None:
    url = f"/api/devices/{device['id']}/commands"
    first = admin_api.post(url, json={"cmd": "reset_energy"}).json()
    second = admin_api.post(url, json={"cmd": "identify", "args": {"seconds": 2}}).json()
    assert [m["id"] for m in control.wait(2)] == [first["id"], second["id"]]
    assert control.messages[1]["args"] == {"seconds": 2, "count": 7}
    answer(ctx, device["serial_number"], first["id"], ok=False, error="meter did not answer")
    got = admin_api.get(f"{url}/{first['id']}").json()
    assert (got["status"], got["error"]) == ("failed", "meter did not answer")
    # Another device's ack for this id changes nothing.
    answer(ctx, "SOMEONE-ELSE", second["id"])
    listed = admin_api.get(url).json()
    assert [(c["id"], c["status"]) for c in listed] == [
        (second["id"], "pending"),
        (first["id"], "failed"),
    ]


def test_unanswered_commands_time_out_and_are_stored_so(
    admin_api: Any, device: dict[str, Any], control: Listener, ctx: Any, monkeypatch: Any
) -> None:
    url = f"/api/devices/{device['id']}/commands"
    monkeypatch.setattr(commands, "COMMAND_TIMEOUT_S", 0)
    late = admin_api.post(url, json={"cmd": "reboot"}).json()
    monkeypatch.setattr(commands, "COMMAND_TIMEOUT_S", 60)
    fresh = admin_api.post(url, json={"cmd": "reboot"}).json()
    control.wait(2)
    got = admin_api.get(f"{url}/{late['id']}").json()
    assert got["status"] == "timed_out" and "did not answer" in got["error"]
    assert stored(ctx, late["id"]).status == "timed_out"
    assert stored(ctx, fresh["id"]).status == "pending"
    answer(ctx, device["serial_number"], late["id"])  # too late: stays timed out
    assert admin_api.get(f"{url}/{late['id']}").json()["status"] == "timed_out"
    row = stored(ctx, fresh["id"])
    assert row.expires_at - row.created_at == timedelta(seconds=60)


def test_broker_down_is_503_and_the_command_is_failed(
    admin_api: Any, device: dict[str, Any], ctx: Any
) -> None:
    url = f"/api/devices/{device['id']}/commands"
    ctx.broker_target = BrokerTarget("127.0.0.1", free_port())
    started = time.monotonic()
    res = admin_api.post(url, json={"cmd": "reboot"})
    assert time.monotonic() - started < 5
    assert res.status_code == 503, res.text
    body = res.json()
    assert body["status"] == "failed" and "unreachable: connection refused" in body["error"]
    row = stored(ctx, body["id"])
    assert row.status == "failed" and "connection refused" in (row.error or "")
    assert admin_api.get(f"{url}/{body['id']}").json()["status"] == "failed"

    ctx.broker_target = None
    res = admin_api.post(url, json={"cmd": "identify"})
    assert res.status_code == 503 and "no MQTT broker is configured" in res.json()["error"]
    assert stored(ctx, res.json()["id"]).status == "failed"
    with ctx.sessions() as db:  # both attempts are in the audit log
        assert (
            len(db.scalars(select(AuditEntry).where(AuditEntry.action == "device.command")).all())
            == 2
        )


def test_unknown_command_id_is_404(
    admin_api: Any, device: dict[str, Any], control: Listener, ctx: Any
) -> None:
    other = admin_api.post("/api/devices", json={"serial_number": device["serial_number"] + "X"})
    url = f"/api/devices/{device['id']}/commands"
    sent = admin_api.post(url, json={"cmd": "reboot"}).json()
    assert (
        admin_api.get(f"/api/devices/{other.json()['id']}/commands/{sent['id']}").status_code == 404
    )
    res = admin_api.get(f"{url}/not-a-command")
    assert res.status_code == 404 and "not found" in res.json()["error"]


def test_store_acks_directly(
    ctx: Any, admin_api: Any, device: dict[str, Any], control: Listener
) -> None:
    """The same path ingest takes, without decode_message: a Batch of CommandAck."""
    from meterhub.protocol.status import CommandAck

    url = f"/api/devices/{device['id']}/commands"
    sent = admin_api.post(url, json={"cmd": "set_alarm_threshold", "args": {"watts": 2300}})
    assert sent.status_code == 202
    cid = sent.json()["id"]
    TelemetryStore(ctx.engine).write(
        Batch(acks=[CommandAck(device["serial_number"], cid, True, None)])
    )
    assert admin_api.get(f"{url}/{cid}").json()["status"] == "acked"


def test_hostile_command_ids_are_404(admin_api: Any, device: dict[str, Any]) -> None:
    url = f"/api/devices/{device['id']}/commands"
    for junk in ("%00", "a%00b", "x" * 64, "'; DROP TABLE x", "%F0%9F%92%A9"):
        res = admin_api.get(f"{url}/{junk}")
        assert res.status_code in (404, 422), (junk, res.text)


def test_the_publisher_can_be_swapped(admin_api: Any, device: dict[str, Any], ctx: Any) -> None:
    sent: list[tuple[str, bytes]] = []
    ctx.broker_target = BrokerTarget("127.0.0.1", 1)  # never dialled
    ctx.mqtt_publish = lambda target, topic, payload: sent.append((topic, payload))
    res = admin_api.post(f"/api/devices/{device['id']}/commands", json={"cmd": "reboot"})
    assert res.status_code == 202
    assert sent == [
        (
            f"meter/{device['serial_number']}/control",
            orjson.dumps({"id": res.json()["id"], "cmd": "reboot", "args": {}}),
        )
    ]
