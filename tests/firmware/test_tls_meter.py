"""mqtts from the firmware: a virtual meter (the real firmware on the MicroPython Unix
port, its ssl module on mbedTLS) against a real Mosquitto whose TLS listener has a
certificate from meterhub's own CA (meterhub.broker.tls, as `meterhub run` makes it).

With the right CA pinned a reading arrives; with a wrong CA, or pointed at a plain
listener, nothing is published, the failure is logged and retried, and the meter never
falls back to plain MQTT."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from meterhub.broker.tls import TlsFiles, default_names, ensure_tls
from meterhub.firmware.device import ca_der
from meterhub.firmware.paths import firmware_dir, tool
from meterhub.firmware.runner import micropython_env
from tests.support import Mosquitto, free_port, wait_for


class TlsBroker:
    def __init__(self, mosquitto: Mosquitto, tls_port: int, files: TlsFiles) -> None:
        self.plain_port = mosquitto.port
        self.tls_port = tls_port
        self.files = files
        self.log = mosquitto.log


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """A private Mosquitto: a plain listener (the test's own subscriber) and a TLS one
    with the certificate meterhub's CA signed for localhost/127.0.0.1."""
    tmp = tmp_path_factory.mktemp("tls-broker")
    files = ensure_tls(tmp / "data", default_names())
    mosq = Mosquitto(tmp / "mosq", persistent=False)
    tls_port = free_port()
    with open(mosq.conf, "a") as conf:
        conf.write(
            f"log_type all\nlistener {tls_port} 127.0.0.1\n"
            f"certfile {files.server_cert}\nkeyfile {files.server_key}\n"
        )
    mosq.start()
    try:
        yield TlsBroker(mosq, tls_port, files)
    finally:
        mosq.stop()


class Received:
    """Everything published under meter/<serial>/, seen on the plain listener."""

    def __init__(self, port: int, serial: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tls-{serial}")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"meter/{serial}/#", qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def topics(self) -> list[str]:
        with self.lock:
            return [t for t, _ in self.messages]

    def data(self) -> list[dict[str, Any]]:
        """The readings received (a backlog batch counts as its readings)."""
        with self.lock:
            bodies = [json.loads(p) for t, p in self.messages if t.endswith("/data")]
        return [
            dict(r, serial_number=b["serial_number"])
            for b in bodies
            for r in b.get("readings", [b])
        ]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_meter(
    flash: Path, serial: str, port: int, ca: bytes | None, host: str = "localhost"
) -> tuple[subprocess.Popen[bytes], Path]:
    """A virtual meter configured for mqtts with `ca` pinned as ca.pem (written to its
    flash first, as `meterhub firmware configure --mqtt-ca` does); its log file."""
    flash.mkdir(parents=True)
    if ca is not None:
        (flash / "ca.pem").write_bytes(ca)
    cfg = {
        "wifi_ssid": "virtual",
        "wifi_password": "virtual",
        "mqtt_host": host,
        "mqtt_port": port,
        "mqtt_tls": True,
        "mqtt_ca": "ca.pem",
        "serial_number": serial,
        "reading_interval": 1,
    }
    (flash / "config.json").write_text(json.dumps(cfg))
    log = flash.parent / f"{serial}.log"
    cmd = [
        tool("micropython"),
        str(firmware_dir() / "host" / "virtual_meter.py"),
        "--flash",
        str(flash),
        "--serial",
        serial,
        "--interval",
        "1",
        "--fast",
    ]
    env = micropython_env(extra={"METER_SERIAL": serial, "METER_PORTAL_PORT": str(free_port())})
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_meter_with_the_pinned_ca_publishes_over_tls(broker: TlsBroker, tmp_path: Path) -> None:
    """The CA as `meterhub firmware configure --mqtt-ca` writes it (DER); PEM is
    accepted too (the other tests pin PEM files)."""
    got = Received(broker.plain_port, "TLS-OK")
    proc, log = start_meter(
        tmp_path / "flash", "TLS-OK", broker.tls_port, ca_der(broker.files.ca_cert)
    )
    try:
        wait_for(lambda: len(got.data()) >= 2, 30, "no reading arrived over TLS")
    finally:
        stop(proc)
        got.close()
    reading = got.data()[0]
    assert reading["serial_number"] == "TLS-OK"
    assert 80 <= reading["voltage"] <= 260
    assert "tls" not in log.read_text()  # no handshake failure on the way


def _wrong_ca(tmp: Path) -> bytes:
    """Another CA made by the same code: valid, but it did not sign the broker's cert."""
    return ensure_tls(tmp / "other", ["localhost"]).ca_cert.read_bytes()


def _refused(broker: TlsBroker, tmp_path: Path, serial: str, port: int, ca: bytes | None) -> str:
    """Run a meter that must not get through; its log once it has failed three times."""
    got = Received(broker.plain_port, serial)
    proc, log = start_meter(tmp_path / "flash", serial, port, ca)
    try:
        wait_for(
            lambda: log.read_text().count("tls") >= 3 or proc.poll() is not None,
            45,
            "the meter did not retry",
        )
        time.sleep(0.5)  # anything it might still publish has time to arrive
        assert proc.poll() is None, log.read_text()[-1500:]  # still running, still retrying
    finally:
        stop(proc)
        got.close()
    assert got.topics() == [], got.topics()  # not a reading, not even a status
    return log.read_text()


def test_wrong_ca_is_refused_logged_and_retried(broker: TlsBroker, tmp_path: Path) -> None:
    text = _refused(broker, tmp_path, "TLS-WRONG", broker.tls_port, _wrong_ca(tmp_path))
    assert text.count("tls handshake with localhost failed") >= 3, text[-1500:]


def test_no_downgrade_to_plain_mqtt(broker: TlsBroker, tmp_path: Path) -> None:
    """Pointed at a plain listener, a meter configured for TLS fails the handshake and
    never sends MQTT in the clear: the broker sees no CONNECT from it."""
    ca = broker.files.ca_cert.read_bytes()
    text = _refused(broker, tmp_path, "TLS-PLAIN", broker.plain_port, ca)
    assert "tls handshake with localhost failed" in text, text[-1500:]
    assert "meter-TLS-PLAIN" not in broker.log.read_text()  # no CONNECT with its client id


def test_missing_ca_file_is_logged_not_ignored(broker: TlsBroker, tmp_path: Path) -> None:
    text = _refused(broker, tmp_path, "TLS-NOCA", broker.tls_port, None)
    assert text.count("tls: cannot read mqtt_ca ca.pem") >= 3, text[-1500:]
