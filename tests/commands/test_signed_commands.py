"""Commands to a meter that holds a command secret are HMAC-signed (docs/mqtt.md,
"Commands"): the signature verifies with that device's secret only, `exp` bounds the
command's life, `n` grows, and an OTA command names its manifest by sha256."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from meterhub.broker.url import BrokerTarget
from meterhub.db.models import Device
from meterhub.services import command_signing, ota

from .conftest import bundle_entries, tar_gz, upload

SECRET = "ab" * 32


def _sign_device(ctx: Any, device_id: int, secret: str | None = SECRET) -> None:
    with ctx.sessions() as db:
        row = db.get(Device, device_id)
        assert row is not None
        row.command_secret = secret
        db.commit()


def _capture(ctx: Any) -> list[tuple[str, bytes]]:
    sent: list[tuple[str, bytes]] = []
    ctx.broker_target = BrokerTarget("127.0.0.1", 1)  # never dialled
    ctx.mqtt_publish = lambda target, topic, payload: sent.append((topic, payload))
    return sent


def test_commands_to_a_meter_with_a_secret_are_signed(
    admin_api: Any, device: dict[str, Any], ctx: Any
) -> None:
    sent = _capture(ctx)
    _sign_device(ctx, device["id"])
    url = f"/api/devices/{device['id']}/commands"
    first = admin_api.post(url, json={"cmd": "reboot"}).json()
    second = admin_api.post(url, json={"cmd": "set_interval", "args": {"seconds": 30}}).json()
    (topic, p1), (_, p2) = sent
    assert topic == f"meter/{device['serial_number']}/control"
    a = command_signing.verify(SECRET, p1)
    b = command_signing.verify(SECRET, p2)
    assert a is not None and b is not None
    assert (a["id"], a["cmd"], a["args"]) == (first["id"], "reboot", {})
    assert (b["id"], b["cmd"], b["args"]) == (second["id"], "set_interval", {"seconds": 30})
    assert time.time() < a["exp"] <= time.time() + commands_ttl() + 1
    assert b["n"] > a["n"]
    assert command_signing.verify("cd" * 32, p1) is None  # another device's key
    assert SECRET.encode() not in p1 + p2  # the secret itself never goes over MQTT


def commands_ttl() -> int:
    from meterhub.services.commands import COMMAND_TIMEOUT_S

    return COMMAND_TIMEOUT_S


def test_a_meter_without_a_secret_gets_plain_commands(
    admin_api: Any, device: dict[str, Any], ctx: Any
) -> None:
    sent = _capture(ctx)
    admin_api.post(f"/api/devices/{device['id']}/commands", json={"cmd": "reboot"})
    ((_, payload),) = sent
    assert b'"sig"' not in payload and b'"cmd":"reboot"' in payload


def test_signed_ota_names_the_manifest_by_its_hash(
    admin_api: Any, device: dict[str, Any], ctx: Any
) -> None:
    assert upload(admin_api, tar_gz(bundle_entries())).status_code == 201
    sent = _capture(ctx)
    _sign_device(ctx, device["id"])
    res = admin_api.post(
        f"/api/devices/{device['id']}/commands", json={"cmd": "ota", "args": {"version": "1.2.0"}}
    )
    assert res.status_code == 202, res.text
    body = command_signing.verify(SECRET, sent[0][1])
    assert body is not None
    manifest = ota.bundles_dir(ctx.settings.data_dir) / "1.2.0" / ota.MANIFEST
    assert body["args"]["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert body["exp"] > time.time() + 60  # an update may take minutes
