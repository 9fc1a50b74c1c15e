"""`meterhub broker mosquitto-config`: the files run under a real Mosquitto (started here
on a free port) with the same accounts and ACL as the embedded broker."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterhub.broker.credentials import service_password
from meterhub.broker.probe import mqtt_answers
from meterhub.cli.main import app
from meterhub.services import device_credentials, devices
from tests.broker.mqtt_clients import TestClient
from tests.support import MOSQUITTO, free_port, require


@pytest.fixture
def accounts(ctx: Any) -> dict[str, tuple[str, str]]:
    """DEV-A and DEV-B (protocol v1), a Tasmota plug on topic `plug1`, DEV-C without one."""
    issued = {}
    with ctx.sessions() as db:
        for serial in ("DEV-A", "DEV-B", "TASMOTA-1", "DEV-C"):
            device = devices.create(db, None, serial)
            if serial == "TASMOTA-1":
                device.topic_id, device.protocol = "plug1", "tasmota"
            if serial != "DEV-C":
                creds = device_credentials.issue(db, None, device)
                issued[serial] = (creds.username, creds.password)
        db.commit()
    return issued


@pytest.fixture(params=["dynsec", "files"])
def mosquitto(
    request: pytest.FixtureRequest, ctx: Any, accounts: Any, tmp_path: Path
) -> Iterator[tuple[int, str]]:
    """Mosquitto running the generated config: (port, format)."""
    require(shutil.which(MOSQUITTO) is not None, f"{MOSQUITTO} is not installed")
    port = free_port()
    out = tmp_path / "mosquitto"
    env = {
        "DATABASE_URL": ctx.settings.database_url,
        "METERHUB_DATA_DIR": str(ctx.settings.data_dir),
    }
    result = CliRunner().invoke(
        app,
        ["broker", "mosquitto-config", "--out", str(out), "--port", str(port)]
        + ["--bind", "127.0.0.1", "--format", request.param]
        + (["--user", getpass.getuser()] if os.geteuid() == 0 else []),
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "1 device(s) have no MQTT account" in result.output  # DEV-C
    assert (out / "mosquitto.conf").stat().st_mode & 0o077 == 0
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(out / "mosquitto.conf")], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 10
    while not mqtt_answers("127.0.0.1", port) and time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "mosquitto.log").read_text()
        time.sleep(0.05)
    yield port, request.param
    process.terminate()
    process.wait(10)
    log.close()


def connect(port: int, accounts: Any, serial: str, client_id: str | None = None) -> TestClient:
    user, password = accounts[serial]
    return TestClient(port, client_id or f"meter-{user}", user, password)


def test_generated_mosquitto_enforces_the_acl(
    ctx: Any, mosquitto: tuple[int, str], accounts: Any
) -> None:
    port, fmt = mosquitto
    assert TestClient(port, "meter-DEV-A").not_authorised
    assert TestClient(port, "meter-DEV-A", "DEV-A", "wrong").not_authorised
    assert TestClient(port, "meter-DEV-C", "DEV-C", "x").not_authorised
    service = TestClient(
        port, "meterhub-ingest", "meterhub", service_password(ctx.settings.data_dir)
    )
    assert service.accepted
    assert service.subscribe("meter/#") == 1
    assert service.subscribe("tele/#") == 1

    a = connect(port, accounts, "DEV-A")
    assert a.accepted
    # The plugin refuses the subscription; acl_file grants it but delivers nothing
    # the account may not read. Either way A never sees B's topics (checked below).
    refusals = [a.subscribe("meter/DEV-B/control"), a.subscribe("meter/#")]
    assert refusals == ([128, 128] if fmt == "dynsec" else [1, 1])
    assert a.subscribe("meter/DEV-A/control") == 1
    a.publish("meter/DEV-B/data", b"{}")
    a.publish("meter/DEV-A/data", b"{}")
    assert service.got("meter/DEV-A/data")
    assert not any(t.startswith("meter/DEV-B") for t, _ in service.messages)
    service.publish("meter/DEV-A/control", b"{}")
    service.publish("meter/DEV-B/control", b"{}")
    assert a.got("meter/DEV-A/control")
    time.sleep(0.3)
    assert {t for t, _ in a.messages} == {"meter/DEV-A/control"}

    plug = connect(port, accounts, "TASMOTA-1")
    assert plug.accepted
    assert plug.subscribe("cmnd/plug1/#") == 1
    assert plug.subscribe("cmnd/other/#") == (128 if fmt == "dynsec" else 1)
    plug.publish("tele/other/SENSOR", b"{}")
    plug.publish("meter/plug1/data", b"{}")
    plug.publish("tele/plug1/SENSOR", b"{}")
    assert service.got("tele/plug1/SENSOR")
    time.sleep(0.3)
    assert not any(t in ("tele/other/SENSOR", "meter/plug1/data") for t, _ in service.messages)

    if fmt == "dynsec":  # only the plugin binds an account to its client id
        assert connect(port, accounts, "DEV-A", client_id="meterhub-ingest").not_authorised
        assert connect(port, accounts, "DEV-B", client_id="meter-DEV-A").not_authorised
        assert not service.disconnected.is_set() and not a.disconnected.is_set()
    for client in (service, a, plug):
        client.close()
