"""Emoncms forwarding against a local HTTP server that speaks Emoncms's input API and
records every request: the admin API (the key never comes back), single readings as
`input/post`, back-fill with `input/bulk` after Emoncms was down, no loss across a
forwarder restart, late (out-of-order committed) readings, per-device targets."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from meterhub.context import AppContext
from meterhub.db.models import EmoncmsCursor, EmoncmsTarget
from meterhub.integrations import emoncms
from meterhub.integrations.emoncms import EmoncmsForwarder, bulk_form, node_name
from meterhub.integrations.source import StoredReading
from tests.integrations.conftest import FakeEmoncms, add_device, store

KEY = "0123456789abcdef0123456789abcdef"
# Readings after the target is made (a target forwards from its creation on), even when
# this module runs late in a slow suite.
T0 = int(time.time()) + 3600


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emoncms, "BACKOFF_MIN_S", 0.0)


def make_target(admin_api: Any, fake: FakeEmoncms, **extra: Any) -> dict[str, Any]:
    fake.api_key = KEY
    res = admin_api.post(
        "/api/integrations/emoncms",
        json={"name": "home", "base_url": fake.url, "api_key": KEY, **extra},
    )
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def times(fake: FakeEmoncms) -> list[int]:
    return [t for t, _ in fake.received()]


def test_api_stores_the_key_encrypted_and_never_answers_it(
    admin_api: Any, ctx: AppContext, fake_emoncms: FakeEmoncms
) -> None:
    target = make_target(admin_api, fake_emoncms)
    assert target["api_key"] == "set"
    overview = admin_api.get("/api/integrations")
    assert overview.status_code == 200
    assert KEY not in overview.text
    assert overview.json()["emoncms"][0]["name"] == "home"
    assert overview.json()["home_assistant"] == {
        "enabled": False,
        "prefix": "homeassistant",
        "status_topic": "homeassistant/status",
        "state_topic_pattern": "meterhub/<serial>/state",
        "availability_topic_pattern": "meterhub/<serial>/availability",
    }
    with ctx.sessions() as db:
        stored = db.scalar(select(EmoncmsTarget.api_key_enc))
    assert stored and KEY not in stored
    res = admin_api.put(f"/api/integrations/emoncms/{target['id']}", json={"api_key": "n" * 32})
    assert res.status_code == 200 and "n" * 32 not in res.text
    audit = admin_api.get("/api/audit").text
    assert KEY not in audit and "n" * 32 not in audit


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"base_url": "ftp://emon.local"}, 422, "base_url"),
        ({"base_url": "http://u:p@emon.local"}, 422, "base_url"),
        ({"api_key": "short"}, 422, "api_key"),
        ({"name": "home"}, 409, None),
        ({"name": "other", "device_serial": "NOPE"}, 404, None),
    ],
)
def test_api_refuses_bad_targets(
    admin_api: Any, fake_emoncms: FakeEmoncms, body: dict[str, Any], status: int, field: str | None
) -> None:
    make_target(admin_api, fake_emoncms)
    full = {"name": "second", "base_url": "http://emon.local", "api_key": KEY, **body}
    res = admin_api.post("/api/integrations/emoncms", json=full)
    assert res.status_code == status, res.text
    assert "error" in res.json()
    if field:
        assert res.json()["field"] == field


def test_forwards_new_readings_then_backfills_after_an_outage(
    admin_api: Any, ctx: AppContext, fake_emoncms: FakeEmoncms
) -> None:
    add_device(ctx, "EM-1")
    target = make_target(admin_api, fake_emoncms)
    forwarder = EmoncmsForwarder(ctx.engine, ctx.secret)
    store(ctx, "EM-1", T0, 7.5, power=1150)
    assert forwarder.forward_once() == 1
    (req,) = fake_emoncms.requests
    assert req.path == "/emoncms/input/post"
    assert req.authorization == f"Bearer {KEY}"
    assert req.form["node"] == "EM-1"
    assert fake_emoncms.received() == [
        (T0, {"power": 1150.0, "voltage": 230.0, "current": 5.0, "energy_kwh": 7.5,
              "frequency": 50.0, "pf": 0.95})
    ]  # fmt: skip

    fake_emoncms.down = True
    for i in range(1, 6):
        store(ctx, "EM-1", T0 + 10 * i, 7.5 + i / 1000)
    assert forwarder.forward_once() == 0
    assert len(fake_emoncms.refused) == 1
    state = admin_api.get("/api/integrations").json()["emoncms"][0]
    assert "503" in state["last_error"] and state["behind_devices"] == 1

    fake_emoncms.down = False
    assert forwarder.forward_once() == 5
    bulk = fake_emoncms.requests[-1]
    assert bulk.path == "/emoncms/input/bulk"
    assert times(fake_emoncms) == [T0 + 10 * i for i in range(6)]
    assert [v["energy_kwh"] for _, v in fake_emoncms.received()][-1] == 7.505
    state = admin_api.get("/api/integrations").json()["emoncms"][0]
    assert state["last_error"] is None and state["behind_devices"] == 0
    assert state["forwarded"] == 6
    assert forwarder.forward_once() == 0  # nothing new, nothing sent
    assert len(fake_emoncms.requests) == 2
    with ctx.sessions() as db:
        cursor = db.scalar(
            select(EmoncmsCursor.last_ts).where(EmoncmsCursor.target_id == target["id"])
        )
    assert cursor == (T0 + 50) * 1000


def test_nothing_is_lost_across_a_restart_or_an_out_of_order_commit(
    admin_api: Any, ctx: AppContext, fake_emoncms: FakeEmoncms
) -> None:
    add_device(ctx, "EM-2")
    make_target(admin_api, fake_emoncms)
    store(ctx, "EM-2", T0, 1.0)
    store(ctx, "EM-2", T0 + 30, 1.003)
    EmoncmsForwarder(ctx.engine, ctx.secret).forward_once()
    # A reading older than the cursor commits late (a second ingest worker was slower).
    store(ctx, "EM-2", T0 + 20, 1.002)
    restarted = EmoncmsForwarder(ctx.engine, ctx.secret)
    restarted.forward_once()
    store(ctx, "EM-2", T0 + 40, 1.004)
    restarted.forward_once()
    assert set(times(fake_emoncms)) == {T0, T0 + 20, T0 + 30, T0 + 40}
    restarted.forward_once()
    sent_once_more = len(fake_emoncms.received())
    restarted.forward_once()
    assert len(fake_emoncms.received()) == sent_once_more  # settled: no endless re-sends


def test_a_device_target_forwards_only_its_device(
    admin_api: Any, ctx: AppContext, fake_emoncms: FakeEmoncms
) -> None:
    add_device(ctx, "EM-A")
    add_device(ctx, "EM-B")
    make_target(admin_api, fake_emoncms, device_serial="EM-B")
    store(ctx, "EM-A", T0, 1.0)
    store(ctx, "EM-B", T0, 2.0)
    EmoncmsForwarder(ctx.engine, ctx.secret).forward_once()
    assert [r.form["node"] for r in fake_emoncms.requests] == ["EM-B"]


def test_a_wrong_key_is_an_error_not_a_silent_skip(
    admin_api: Any, ctx: AppContext, fake_emoncms: FakeEmoncms
) -> None:
    add_device(ctx, "EM-K")
    make_target(admin_api, fake_emoncms)
    fake_emoncms.api_key = "another-key-entirely"
    store(ctx, "EM-K", T0, 1.0)
    assert EmoncmsForwarder(ctx.engine, ctx.secret).forward_once() == 0
    state = admin_api.get("/api/integrations").json()["emoncms"][0]
    assert "Invalid API key" in state["last_error"] and KEY not in state["last_error"]
    # a forwarder whose install secret differs cannot read the key: says so
    EmoncmsForwarder(ctx.engine, "x" * 48).forward_once()
    state = admin_api.get("/api/integrations").json()["emoncms"][0]
    assert "SESSION_SECRET" in state["last_error"]


def test_bulk_rows_use_named_inputs_relative_to_the_first_reading() -> None:
    rows = [
        StoredReading(1_000_000 + i * 10_000, 230.0, 1.0, 230.0, 2.0, None, None) for i in range(2)
    ]
    form = bulk_form("n", rows)
    assert form == {
        "time": "1000",
        "data": '[[0,"n",{"power":230.0},{"voltage":230.0},{"current":1.0},{"energy_kwh":2.0}],'
        '[10,"n",{"power":230.0},{"voltage":230.0},{"current":1.0},{"energy_kwh":2.0}]]',
    }
    assert node_name("PZ:01/ä b") == "PZ01ä b"


def test_a_long_backlog_goes_in_several_bulk_requests(
    admin_api: Any, ctx: AppContext, fake_emoncms: FakeEmoncms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emoncms, "BATCH", 3)
    add_device(ctx, "EM-L")
    make_target(admin_api, fake_emoncms)
    for i in range(8):
        store(ctx, "EM-L", T0 + 10 * i, 4.0 + i / 1000)
    assert EmoncmsForwarder(ctx.engine, ctx.secret).forward_once() == 8
    assert [len(json.loads(r.form["data"])) for r in fake_emoncms.requests] == [3, 3, 2]
    assert times(fake_emoncms) == [T0 + 10 * i for i in range(8)]
