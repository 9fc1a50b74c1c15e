"""The broker's registry lookups, without a broker: enrolment switched off, protocol
rules, and the hashes the revalidation compares."""

from __future__ import annotations

from typing import Any

from meterhub.broker.registry import Registry
from meterhub.services import device_credentials, devices


def test_registry_identities(ctx: Any) -> None:
    with ctx.sessions() as db:
        plug = devices.create(db, None, "TASMOTA-9")
        plug.topic_id, plug.protocol = "plug9", "tasmota"
        creds = device_credentials.issue(db, None, plug)
        db.commit()
    closed = Registry(ctx.settings.database_url, "service-pw", enrolment=False)
    try:
        assert closed.authenticate("enrol", "", "enrol-NEW-9") is None
        with ctx.sessions() as db:
            assert devices.by_serial(db, "NEW-9") is None  # refused: nothing registered
        # The account's user name is its topic id, not its serial.
        assert closed.authenticate("TASMOTA-9", creds.password, "meter-TASMOTA-9") is None
        identity = closed.authenticate("plug9", creds.password, "meter-plug9")
        assert identity is not None and identity.rules.subscribe == ("cmnd/plug9/#",)
        assert closed.authenticate("meterhub", "service-pw", "meterhub-web-1") is not None
        assert closed.authenticate("meterhub", "service-pw", "meter-plug9") is None
        states = closed.current_states(["plug9", "GONE"])
        assert states == {"plug9": identity.account_state, "GONE": None}
        with ctx.sessions() as db:
            changed = devices.by_serial(db, "TASMOTA-9")
            assert changed is not None
            changed.protocol = "esphome"  # other topics: connected clients must log in again
            db.commit()
        assert closed.current_states(["plug9"])["plug9"] != identity.account_state
    finally:
        closed.close()
    open_ = Registry(ctx.settings.database_url, "service-pw", enrolment=True)
    try:
        assert open_.authenticate("enrol", "", "enrol-NEW-9") is not None
        assert open_.authenticate("enrol", "", "enrol-bad/serial") is None
        with ctx.sessions() as db:
            device = devices.by_serial(db, "NEW-9")
            assert device is not None and device.status == "pending"
    finally:
        open_.close()
