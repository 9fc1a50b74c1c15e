"""OTA with the real firmware: a bundle uploaded through the API, an `ota` command to a
virtual meter, which downloads manifest and files over HTTP from the app (served by
uvicorn) with its token, verifies them, installs, acks, reboots and confirms."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from meterhub.db.models import Device
from meterhub.firmware.virtual import VirtualFleet, serial_for
from tests.commands.conftest import bundle_entries, tar_gz, upload
from tests.support import Mosquitto, free_port, wait_for

from .conftest import Ingest
from .test_pipeline import need_micropython

PROBE = b"# installed over the air\nOTA_PROBE = 42\n"


@pytest.fixture
def http_server(app: Any) -> Iterator[str]:
    """The same app on a real socket, for the device's HTTP/1.0 downloads."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn did not start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_virtual_meter_installs_a_bundle(
    mosquitto: Mosquitto, ingest: Ingest, ctx: Any, web_api: Any, http_server: str, tmp_path: Path
) -> None:
    need_micropython()
    files = {"lib/ota_probe.py": PROBE, "main.py": b"# new main\n"}
    assert upload(web_api, tar_gz(bundle_entries(files, version="9.8.7"))).status_code == 201
    serial = serial_for(0)
    secret = "e2e-ota-command-secret-0123456789"  # as `meterhub firmware configure` sets it
    fleet = VirtualFleet(
        1,
        1.0,
        mosquitto.url,
        workdir=tmp_path / "meters",
        fast=True,
        log=lambda _: None,
        command_secrets={serial: secret},
    )
    flash = fleet.flash_dir(0)
    fleet.start()
    try:

        def registered() -> dict[str, Any] | None:
            fleet.poll()
            found = [d for d in web_api.get("/api/devices").json() if d["serial_number"] == serial]
            return found[0] if found else None

        device = wait_for(registered, 30, "the virtual meter never published", step=0.3)
        with ctx.sessions() as db:
            stored = db.get(Device, device["id"])
            assert stored is not None
            stored.command_secret = secret
            db.commit()
        url = f"/api/devices/{device['id']}/commands"
        res = web_api.post(
            url, json={"cmd": "ota", "args": {"version": "9.8.7", "base_url": http_server}}
        )
        assert res.status_code == 202, res.text

        def answered() -> dict[str, Any] | None:
            fleet.poll()
            got: dict[str, Any] = web_api.get(f"{url}/{res.json()['id']}").json()
            return got if got["status"] != "pending" else None

        log = flash.parent / f"{serial}.log"
        result = wait_for(answered, 30, f"no answer: {log.read_text()[-1500:]}", step=0.3)
        assert (result["status"], result["error"]) == ("acked", None), log.read_text()[-1500:]
        assert (flash / "lib" / "ota_probe.py").read_bytes() == PROBE
        assert (flash / "main.py").read_bytes() == b"# new main\n"

        def confirmed() -> bool:  # rebooted (restarted by the fleet), connected, confirmed
            fleet.poll()
            marker = flash / "ota_result.json"
            return marker.exists() and json.loads(marker.read_text()) == {
                "version": "9.8.7",
                "ok": True,
            }

        wait_for(confirmed, 30, f"OTA not confirmed: {log.read_text()[-1500:]}", step=0.3)
        assert fleet.restarts == 1
        assert not (flash / "ota_state.json").exists()
    finally:
        fleet.stop()
