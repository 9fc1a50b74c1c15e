"""The embedded broker as `meterhub run` starts it: registry accounts, the ACL, the
client-id rule, rotation and revocation without a restart, and enrolment."""

from __future__ import annotations

import io
import json
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from meterhub.broker import guard
from meterhub.broker.credentials import service_password, service_password_file
from meterhub.broker.embedded import (
    BrokerAccess,
    EmbeddedBroker,
    TlsListener,
    start_embedded_broker,
)
from meterhub.broker.probe import mqtt_answers
from meterhub.broker.tls import default_names, ensure_tls
from meterhub.broker.url import BrokerTarget
from meterhub.db.models import Device
from meterhub.services import device_credentials, devices
from tests.broker.mqtt_clients import TestClient
from tests.support import free_port


@pytest.fixture
def accounts(ctx: Any) -> dict[str, tuple[str, str]]:
    """Devices A and B with MQTT accounts, and C registered without one."""
    issued = {}
    with ctx.sessions() as db:
        for serial in ("DEV-A", "DEV-B", "DEV-C"):
            device = devices.create(db, None, serial)
            if serial != "DEV-C":
                creds = device_credentials.issue(db, None, device)
                issued[serial] = (creds.username, creds.password)
        db.commit()
    return issued


@pytest.fixture
def broker(ctx: Any, accounts: Any) -> Iterator[EmbeddedBroker]:
    data_dir = ctx.settings.data_dir
    service_password(data_dir)  # what `meterhub run` makes first
    access = BrokerAccess(ctx.settings.database_url, service_password_file(data_dir))
    started = start_embedded_broker(free_port(), access=access)
    yield started
    started.stop()


@pytest.fixture
def service(ctx: Any, broker: EmbeddedBroker) -> Iterator[TestClient]:
    """meterhub's own client, subscribed to every meter topic (as ingest is)."""
    client = TestClient(
        broker.port,
        "meterhub-ingest",
        "meterhub",
        service_password(ctx.settings.data_dir),
        clean_session=False,
    )
    assert client.accepted
    assert client.subscribe("meter/#") == 1
    yield client
    client.close()


def device(broker: Any, accounts: Any, serial: str, **kw: Any) -> TestClient:
    user, password = accounts[serial]
    return TestClient(broker.port, kw.pop("client_id", f"meter-{user}"), user, password, **kw)


def test_only_registry_accounts_get_in(broker: EmbeddedBroker, accounts: Any) -> None:
    port = broker.port
    assert TestClient(port, "meter-DEV-A").not_authorised  # anonymous: not authorised
    assert TestClient(port, "meter-DEV-A", "DEV-A", "wrong").not_authorised
    assert TestClient(port, "meter-DEV-C", "DEV-C", "anything").not_authorised  # no account yet
    assert TestClient(port, "meter-NOPE", "NOPE", "x").not_authorised
    assert TestClient(port, "meterhub-x", "meterhub", "wrong").not_authorised
    good = device(broker, accounts, "DEV-A")
    assert good.accepted
    good.close()


def test_a_device_uses_only_its_own_topics(
    broker: EmbeddedBroker, accounts: Any, service: TestClient
) -> None:
    a = device(broker, accounts, "DEV-A")
    assert a.accepted
    assert a.subscribe("meter/DEV-B/control") == 128
    assert a.subscribe("meter/#") == 128
    assert a.subscribe("meter/+/control") == 128
    assert a.subscribe("#") == 128
    assert a.subscribe("meter/DEV-A/control") == 1
    a.publish("meter/DEV-B/data", b'{"forged": true}')
    a.publish("meter/DEV-B/control", b'{"cmd": "reboot"}', retain=True)
    a.publish("meter/DEV-A/data", b'{"voltage": 230}')
    a.publish("meter/DEV-A/status", b"online")
    assert service.got("meter/DEV-A/data") and service.got("meter/DEV-A/status")
    assert not any(t.startswith("meter/DEV-B/") for t, _ in service.messages)
    service.publish("meter/DEV-A/control", b'{"cmd": "identify"}')
    service.publish("meter/DEV-B/control", b'{"cmd": "identify"}')
    assert a.got("meter/DEV-A/control")
    time.sleep(0.3)
    assert [t for t, _ in a.messages] == ["meter/DEV-A/control"]
    a.close()


def test_no_account_takes_over_a_meterhub_client_id(
    broker: EmbeddedBroker, accounts: Any, service: TestClient
) -> None:
    intruder = device(broker, accounts, "DEV-A", client_id="meterhub-ingest")
    assert intruder.not_authorised
    anonymous = TestClient(broker.port, "meterhub-ingest", clean_session=True)
    assert anonymous.not_authorised
    b_as_a = device(broker, accounts, "DEV-B", client_id="meter-DEV-A")
    assert b_as_a.not_authorised
    assert not service.disconnected.is_set()  # still connected, subscription intact
    b = device(broker, accounts, "DEV-B")
    b.publish("meter/DEV-B/data", b"{}")
    assert service.got("meter/DEV-B/data")
    b.close()


def test_rotation_and_revocation_need_no_restart(
    ctx: Any, broker: EmbeddedBroker, accounts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = device(broker, accounts, "DEV-A")
    b = device(broker, accounts, "DEV-B")
    assert a.accepted and b.accepted
    with ctx.sessions() as db:
        new_a = device_credentials.issue(db, None, devices.by_serial(db, "DEV-A"))
        device_credentials.revoke(db, None, devices.by_serial(db, "DEV-B"))
        db.commit()
    # Connected clients are re-checked every guard.REVALIDATE_S seconds.
    assert a.disconnected.wait(guard.REVALIDATE_S + 5)
    assert b.disconnected.wait(1)
    assert device(broker, accounts, "DEV-A").not_authorised  # the old password
    again = TestClient(broker.port, "meter-DEV-A", "DEV-A", new_a.password)
    assert again.accepted
    assert device(broker, accounts, "DEV-B").not_authorised
    again.close()


def test_enrolment_makes_a_pending_device_that_can_do_nothing_else(
    ctx: Any, broker: EmbeddedBroker, service: TestClient
) -> None:
    port = broker.port
    assert TestClient(port, "meterhub-probe", "enrol", "").not_authorised
    assert TestClient(port, "meter-NEW-1", "enrol", "").not_authorised
    new = TestClient(port, "enrol-NEW-1", "enrol", "")
    assert new.accepted
    with ctx.sessions() as db:
        pending = devices.by_serial(db, "NEW-1")
        assert pending is not None and pending.status == "pending"
    assert new.subscribe("meter/NEW-1/control") == 128
    assert new.subscribe("enrol/OTHER/credentials") == 128
    assert new.subscribe("enrol/+/credentials") == 128
    assert new.subscribe("enrol/NEW-1/credentials") == 1
    new.publish("meter/NEW-1/data", b'{"voltage": 230}')
    new.publish("meter/NEW-1/status", b"online")
    service.publish("enrol/NEW-1/credentials", b'{"username": "NEW-1"}', retain=True)
    assert new.got("enrol/NEW-1/credentials")
    assert not any(t.startswith("meter/NEW-1") for t, _ in service.messages)
    new.close()


def test_the_default_bind_is_loopback_only(ctx: Any, broker: EmbeddedBroker) -> None:
    assert ctx.settings.MQTT_BIND == "127.0.0.1"
    assert broker.host == "127.0.0.1"
    address = _lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    assert mqtt_answers("127.0.0.1", broker.port)
    assert not mqtt_answers(address, broker.port)


def _lan_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if address.startswith("127.") else address


def test_approval_hands_an_enrolled_meter_its_own_account(
    ctx: Any, broker: EmbeddedBroker, admin_api: Any
) -> None:
    ctx.broker_target = BrokerTarget(
        "127.0.0.1", broker.port, "meterhub", service_password(ctx.settings.data_dir)
    )
    meter = TestClient(broker.port, "enrol-NEW-2", "enrol", "")
    assert meter.subscribe("enrol/NEW-2/credentials") == 1
    pending = admin_api.get("/api/devices", params={"status": "pending"}).json()
    device_id = next(d["id"] for d in pending if d["serial_number"] == "NEW-2")
    assert admin_api.post(f"/api/devices/{device_id}/approve").status_code == 200
    assert meter.got("enrol/NEW-2/credentials")
    creds = json.loads(meter.messages[0][1])
    meter.close()
    own = TestClient(broker.port, "meter-NEW-2", creds["username"], creds["password"])
    assert own.accepted and creds["username"] == "NEW-2"
    own.publish("meter/NEW-2/status", b"online")
    # Logged in with its own account: the answer is gone for anyone enrolling later.
    late = TestClient(broker.port, "enrol-NEW-2", "enrol", "")
    assert late.subscribe("enrol/NEW-2/credentials") == 1
    assert not late.got("enrol/NEW-2/credentials", timeout=0.5)
    late.close()
    own.close()


def test_simulate_logs_in_with_device_accounts_on_a_guarded_broker(
    ctx: Any, broker: EmbeddedBroker, service: TestClient
) -> None:
    from meterhub.simulate.cli import simulate_command

    def issue(serials: list[str]) -> dict[str, tuple[str, str]]:
        with ctx.sessions() as db:
            issued = device_credentials.issue_for_simulation(db, serials)
            db.commit()
        return issued

    url = f"mqtt://127.0.0.1:{broker.port}"
    out = io.StringIO()
    # No credentials in the URL: the broker refuses anonymous clients, so each simulated
    # meter gets its own account from the registry and logs in as `meter-<serial>`.
    code = simulate_command(2, 0.2, url, duration=1.0, issue_accounts=issue, stream=out)
    assert code == 0, out.getvalue()
    with ctx.sessions() as db:
        serials = [
            s
            for (s,) in db.execute(
                select(Device.serial_number).where(Device.name == "Simulated meter")
            )
        ]
    assert len(serials) == 2
    for serial in serials:
        assert service.got(f"meter/{serial}/data")
    assert simulate_command(1, 0.2, url, duration=0.5, device_accounts=False, stream=out) == 1


def test_tls_listener_with_meterhubs_own_ca(ctx: Any, accounts: Any) -> None:
    data_dir = ctx.settings.data_dir
    service_password(data_dir)
    files = ensure_tls(data_dir, default_names(["meters.example"]))
    for key in (files.server_key, data_dir / "mqtt-tls" / "ca.key"):
        assert key.stat().st_mode & 0o077 == 0
    assert ensure_tls(data_dir, default_names(["meters.example"])) == files  # kept
    tls = TlsListener(free_port(), files.server_cert, files.server_key)
    access = BrokerAccess(ctx.settings.database_url, service_password_file(data_dir))
    with start_embedded_broker(free_port(), access=access, tls=tls):
        user, password = accounts["DEV-A"]
        ca = str(files.ca_cert)
        secure = TestClient(tls.port, f"meter-{user}", user, password, tls_ca=ca)
        assert secure.accepted
        secure.close()
        assert TestClient(tls.port, "meter-DEV-A", tls_ca=ca).not_authorised
        with pytest.raises(ssl.SSLError):  # a client that does not trust meterhub's CA
            TestClient(tls.port, f"meter-{user}", user, password, tls_ca=system_ca_bundle())


def system_ca_bundle() -> str:
    """The system's CA bundle: public CAs only, so meterhub's certificate is not trusted."""
    paths = ssl.get_default_verify_paths()
    return str(paths.cafile or paths.openssl_cafile)


def test_virtual_firmware_meter_logs_in_with_its_account(
    ctx: Any, broker: EmbeddedBroker, service: TestClient, tmp_path: Any
) -> None:
    """`simulate --firmware`: the real MicroPython firmware, given its account."""
    import shutil

    from meterhub.firmware.virtual import VirtualFleet, serial_for

    if (
        shutil.which("micropython") is None
        and not Path(sys.executable).with_name("micropython").exists()
    ):
        pytest.skip("the MicroPython Unix port (micropython) is not installed")
    serial = serial_for(0)
    with ctx.sessions() as db:
        issued = device_credentials.issue_for_simulation(db, [serial])
        db.commit()
    fleet = VirtualFleet(
        1,
        0.5,
        f"mqtt://127.0.0.1:{broker.port}",
        workdir=tmp_path / "meters",
        fast=True,
        log=lambda _: None,
        accounts=issued,
    )
    fleet.start()
    try:
        assert service.got(f"meter/{serial}/data", timeout=30)
    finally:
        fleet.stop()
