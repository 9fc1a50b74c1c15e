"""The integrations process as `meterhub run` starts it: settings from the environment,
HA discovery on with HA_DISCOVERY=1, a clean stop on SIGTERM that marks the bridge
offline."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from meterhub.context import AppContext
from meterhub.integrations.runner import integrations_command
from tests.e2e.conftest import Mosquitto
from tests.integrations.conftest import Observer, add_device, store, wait_for


# The process's wiring does not depend on the database; the parts it runs are tested on
# both databases elsewhere in this folder. SQLite only keeps this slow start single.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_process_announces_and_says_offline_when_stopped(
    ctx: AppContext, db_url: str, mosquitto: Mosquitto, observer: Observer, tmp_path: Path
) -> None:
    add_device(ctx, "PROC-1", name="Garage")
    t0 = time.time() - 100
    store(ctx, "PROC-1", t0, 3.0)
    store(ctx, "PROC-1", t0 + 10, 3.002)
    argv, env = integrations_command(mosquitto.url, db_url, "INFO")
    env.update(
        {
            "HA_DISCOVERY": "1",
            "HA_DISCOVERY_PREFIX": "ha-test",
            "PUBLIC_URL": "http://meters.example:8080/",
            "METERHUB_DATA_DIR": str(ctx.settings.data_dir),
        }
    )
    assert mosquitto.url not in argv and db_url not in argv  # passwords stay out of `ps`
    observer.client.subscribe("ha-test/#", 1)
    log = open(tmp_path / "integrations.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        topic = "ha-test/sensor/meterhub_PROC-1/energy/config"
        wait_for(lambda: observer.on(topic), 20, "no discovery config from the process")
        assert b"http://meters.example:8080/devices/PROC-1" in observer.on(topic)[-1].payload
        wait_for(lambda: observer.on("meterhub/PROC-1/state"), 10, "no state")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        log.close()
    assert code == 0, (tmp_path / "integrations.log").read_text()
    wait_for(
        lambda: any(m.payload == b"offline" for m in observer.on("meterhub/bridge/availability")),
        10,
        "the bridge was not marked offline",
    )
    assert "Traceback" not in (tmp_path / "integrations.log").read_text()


def test_cli_refuses_a_bad_broker_url_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from meterhub.cli.main import app

    result = CliRunner().invoke(
        app,
        ["integrations"],
        env={"MQTT_BROKER_URL": "ftp://broker.local", "METERHUB_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'ftp'" in lines[0], lines
