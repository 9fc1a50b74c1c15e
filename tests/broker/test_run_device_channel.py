"""`meterhub run --demo 1` with the embedded broker, as a user starts it: the broker
answers on loopback only and refuses anonymous clients, and the whole path still works
with accounts: the demo meter logs in with its own account, ingest with the service
account, and the meter's status and readings reach the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from meterhub.broker.probe import connack_code
from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.migrate import upgrade
from meterhub.db.models import Device, Reading
from meterhub.simulate import make_serials
from meterhub.simulate.demo import DEMO_SEED
from tests.broker.test_device_channel import _lan_address
from tests.support import free_port

NOT_AUTHORISED = 5


def test_meterhub_run_embedded_broker_is_closed_but_works(tmp_path: Path) -> None:
    mqtt_port, web_port = free_port(), free_port()
    db_url = f"sqlite:///{tmp_path / 'meterhub.db'}"
    env = {
        **os.environ,
        "MQTT_BROKER_URL": "embedded",
        "MQTT_PORT": str(mqtt_port),
        "PORT": str(web_port),
        "DATABASE_URL": db_url,
        "METERHUB_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("MQTT_BIND", None)
    engine = make_engine(db_url)
    upgrade(engine)
    with make_sessionmaker(engine)() as db:
        # The demo meter, registered before any account existed (an upgraded install) and
        # with a reading, so `run` writes no 30-day history for it.
        serial = make_serials(1, DEMO_SEED)[0]
        db.add(Device(serial_number=serial, last_energy=1.0, name="Demo meter 1"))
        db.commit()
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterhub", "run", "--demo", "1", "--host", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while connack_code("127.0.0.1", mqtt_port) is None:
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the embedded broker did not start"
            time.sleep(0.2)
        assert connack_code("127.0.0.1", mqtt_port) == NOT_AUTHORISED
        lan = _lan_address()
        if lan is not None:
            assert connack_code(lan, mqtt_port) is None
        started_ms = int(time.time() * 1000)
        sessions = make_sessionmaker(engine)
        online = live = False
        while time.monotonic() < deadline + 30 and not (online and live):
            time.sleep(0.5)
            with sessions() as db:
                device = db.scalar(select(Device))
                if device is None:
                    continue
                online = device.online and device.mqtt_password_hash is not None
                newest = db.scalar(
                    select(func.max(Reading.ts)).where(Reading.device_id == device.id)
                )
                live = newest is not None and newest >= started_ms
        text = (tmp_path / "run.log").read_text()
        assert online and live, text
        # It had no account before this start: the upgrade warning named it.
        assert f"1 device(s) have no MQTT account, so the broker refuses them: {serial}" in text
        broker_log = (tmp_path / "data" / "broker.log").read_text()
        assert "refused MQTT client" not in broker_log, broker_log  # probes are not news
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
        engine.dispose()
