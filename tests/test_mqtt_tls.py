"""MQTT_CA_FILE: every MQTT client of meterhub trusts a private CA for mqtts:// brokers.

A real Mosquitto with a TLS listener whose certificate is signed by a CA made here (with
openssl); the clients must connect with the CA file, and must refuse without it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from meterhub.broker.url import BrokerTarget
from meterhub.live.feed import MqttLiveFeed
from meterhub.live.hub import LiveHub
from meterhub.mqtt_publish import PublishError, publish_once
from meterhub.simulate.publisher import Publisher
from tests.support import MOSQUITTO, free_port, port_open, require


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BrokerTarget, str]]:
    """A Mosquitto TLS listener on a free port, and the PEM file of the CA that signed it."""
    mosquitto = MOSQUITTO
    require(Path(mosquitto).exists(), "the mosquitto binary is not installed")
    require(shutil.which("openssl") is not None, "openssl is not installed")
    work = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=meterhub test CA", cwd=work)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
             "server.csr", "-subj", "/CN=127.0.0.1", cwd=work)  # fmt: skip
    (work / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
             cwd=work)  # fmt: skip
    port = free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"user root\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"certfile {work / 'server.pem'}\nkeyfile {work / 'server.key'}\n"
    )
    proc = subprocess.Popen(
        [mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            assert proc.poll() is None, "mosquitto exited (TLS configuration refused?)"
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
        yield BrokerTarget("127.0.0.1", port, tls=True), str(work / "ca.pem")
    finally:
        proc.terminate()
        proc.wait(10)


def test_commands_trust_the_private_ca_only_when_given(
    tls_broker: tuple[BrokerTarget, str],
) -> None:
    target, ca_file = tls_broker
    publish_once(replace(target, ca_file=ca_file), "meter/TLS-1/control", b"{}", timeout=5)
    with pytest.raises(PublishError):
        publish_once(target, "meter/TLS-1/control", b"{}", timeout=5)


def test_live_feed_and_simulator_connect_with_the_ca_file(
    tls_broker: tuple[BrokerTarget, str],
) -> None:
    target, ca_file = tls_broker
    trusted = replace(target, ca_file=ca_file)

    async def scenario() -> int:
        feed = MqttLiveFeed.from_target(LiveHub(), trusted)
        await feed.start()
        try:
            await asyncio.wait_for(feed.subscribed.wait(), 10)
            publisher = Publisher(trusted, ["TLS-2"], client_prefix="tls-test")
            await publisher.start()
            await publisher.publish_json(
                "TLS-2",
                {"voltage": 230.0, "current": 1.0, "power": 230.0, "energy": 1.0},
            )
            await publisher.stop()
            deadline = time.monotonic() + 10
            while feed.readings == 0:
                assert time.monotonic() < deadline, "the feed got no reading over TLS"
                await asyncio.sleep(0.02)
            return feed.readings
        finally:
            await feed.stop()

    assert asyncio.run(scenario()) == 1

    async def untrusted() -> None:
        publisher = Publisher(target, ["TLS-3"], client_prefix="tls-test")
        await publisher.start()

    with pytest.raises(ConnectionError):
        asyncio.run(untrusted())
