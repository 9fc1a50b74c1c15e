"""POST/DELETE /api/devices/{id}/credentials: admin only, shown once, stored as a hash,
a new call rotates; and `meterhub devices credentials SERIAL`."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from meterhub.broker.passwords import verify_password
from meterhub.cli.main import app as cli_app
from meterhub.db.models import AuditEntry, Device
from meterhub.services import command_signing


def _device(admin_api: Any, serial: str = "PZEM-CRED1") -> int:
    res = admin_api.post("/api/devices", json={"serial_number": serial})
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


def _stored_hash(ctx: Any, device_id: int) -> str | None:
    with ctx.sessions() as db:
        device = db.get(Device, device_id)
        assert device is not None
        return device.mqtt_password_hash


def test_issue_shows_the_password_once_and_keeps_a_hash(ctx: Any, admin_api: Any) -> None:
    device_id = _device(admin_api)
    res = admin_api.post(f"/api/devices/{device_id}/credentials")
    assert res.status_code == 200, res.text
    assert res.headers["cache-control"] == "no-store"
    body = res.json()
    assert body["username"] == "PZEM-CRED1"
    assert len(body["password"]) >= 22  # >= 128 bits of URL-safe base64
    stored = _stored_hash(ctx, device_id)
    assert stored is not None and stored.startswith("$7$")
    assert body["password"] not in stored
    assert verify_password(body["password"], stored)
    # Neither the device shape nor the audit log carries the password.
    shape = admin_api.get(f"/api/devices/{device_id}").text
    assert body["password"] not in shape and stored not in shape
    with ctx.sessions() as db:
        audit = " ".join(str(e.detail) for e in db.query(AuditEntry).all())
    assert body["password"] not in audit


def test_a_new_call_rotates_and_delete_revokes(ctx: Any, admin_api: Any) -> None:
    device_id = _device(admin_api)
    first = admin_api.post(f"/api/devices/{device_id}/credentials").json()["password"]
    second = admin_api.post(f"/api/devices/{device_id}/credentials").json()["password"]
    assert first != second
    stored = _stored_hash(ctx, device_id)
    assert verify_password(second, stored) and not verify_password(first, stored)
    assert admin_api.delete(f"/api/devices/{device_id}/credentials").status_code == 204
    assert _stored_hash(ctx, device_id) is None


def test_only_admins_issue_credentials(ctx: Any, admin_api: Any, make_user: Any) -> None:
    device_id = _device(admin_api)
    user = make_user("viewer", (device_id,))
    assert user.post(f"/api/devices/{device_id}/credentials").status_code == 403
    assert user.delete(f"/api/devices/{device_id}/credentials").status_code == 403
    assert _stored_hash(ctx, device_id) is None
    missing = admin_api.post("/api/devices/999999/credentials")
    assert missing.status_code == 404 and "error" in missing.json()


def test_reserved_account_names_are_refused(ctx: Any, admin_api: Any) -> None:
    device_id = _device(admin_api, "meterhub")
    res = admin_api.post(f"/api/devices/{device_id}/credentials")
    assert res.status_code == 409 and "reserved" in res.json()["error"]


def test_cli_prints_credentials_once_and_revokes(ctx: Any, admin_api: Any) -> None:
    device_id = _device(admin_api)
    env = {
        "DATABASE_URL": ctx.settings.database_url,
        "METERHUB_DATA_DIR": str(ctx.settings.data_dir),
    }
    runner = CliRunner()
    result = runner.invoke(cli_app, ["devices", "credentials", "PZEM-CRED1"], env=env)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    assert lines["username"] == "PZEM-CRED1"
    assert verify_password(lines["password"], _stored_hash(ctx, device_id))
    result = runner.invoke(cli_app, ["devices", "credentials", "NOPE"], env=env)
    assert result.exit_code != 0 and "no device with serial 'NOPE'" in result.output
    result = runner.invoke(cli_app, ["devices", "credentials", "PZEM-CRED1", "--revoke"], env=env)
    assert result.exit_code == 0 and _stored_hash(ctx, device_id) is None


def test_protocol_in_create_update_and_shape(admin_api: Any) -> None:
    res = admin_api.post("/api/devices", json={"serial_number": "PLUG-1", "protocol": "tasmota"})
    assert res.status_code == 201 and res.json()["protocol"] == "tasmota"
    device_id = res.json()["id"]
    assert admin_api.get(f"/api/devices/{device_id}").json()["protocol"] == "tasmota"
    res = admin_api.put(f"/api/devices/{device_id}", json={"protocol": "esphome"})
    assert res.status_code == 200 and res.json()["protocol"] == "esphome"
    bad = admin_api.put(f"/api/devices/{device_id}", json={"protocol": "zigbee"})
    assert bad.status_code == 422 and "error" in bad.json()
    null = admin_api.put(f"/api/devices/{device_id}", json={"protocol": None})
    assert null.status_code == 422
    plain = admin_api.post("/api/devices", json={"serial_number": "PZEM-P2"}).json()
    assert plain["protocol"] == "meterhub"


def _stored_secret(ctx: Any, device_id: int) -> str | None:
    with ctx.sessions() as db:
        device = db.get(Device, device_id)
        assert device is not None
        return device.command_secret


def test_command_secret_is_generated_shown_once_and_rotated(ctx: Any, admin_api: Any) -> None:
    device_id = _device(admin_api)
    assert _stored_secret(ctx, device_id) is None
    res = admin_api.post(f"/api/devices/{device_id}/command-secret")
    assert res.status_code == 200, res.text
    assert res.headers["cache-control"] == "no-store"
    body = res.json()
    assert body["serial_number"] == "PZEM-CRED1" and body["config_key"] == "command_secret"
    first = body["command_secret"]
    assert len(first) == 64 and int(first, 16) >= 0
    assert _stored_secret(ctx, device_id) == first
    # Signed with it: a payload signed by the stored key verifies with the shown one.
    payload = command_signing.sign(_stored_secret(ctx, device_id) or "", "c1", "identify", {}, 60)
    assert command_signing.verify(first, payload) is not None
    # Not in the device shape, not in the audit log; a new call rotates.
    assert first not in admin_api.get(f"/api/devices/{device_id}").text
    with ctx.sessions() as db:
        entries = db.query(AuditEntry).filter_by(action="device.command_secret").all()
        assert [e.target_id for e in entries] == [str(device_id)]
        assert first not in " ".join(str(e.detail) for e in db.query(AuditEntry).all())
    second = admin_api.post(f"/api/devices/{device_id}/command-secret").json()["command_secret"]
    assert second != first and _stored_secret(ctx, device_id) == second
    rotated = command_signing.sign(second, "c2", "identify", {}, 60)
    assert command_signing.verify(first, rotated) is None  # the old key no longer fits


def test_only_admins_set_command_secrets(ctx: Any, admin_api: Any, make_user: Any) -> None:
    device_id = _device(admin_api)
    user = make_user("viewer", (device_id,))
    res = user.post(f"/api/devices/{device_id}/command-secret")
    assert res.status_code == 403 and "admin" in res.json()["error"]
    assert _stored_secret(ctx, device_id) is None
    missing = admin_api.post("/api/devices/999999/command-secret")
    assert missing.status_code == 404 and "error" in missing.json()
