"""Every mutating admin call leaves an audit entry naming the actor, action and target."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meterhub.broker.url import BrokerTarget
from meterhub.web.app import route_table
from tests.api.conftest import audit_entries
from tests.api.test_access_matrix import ADMIN, RULES
from tests.commands.conftest import bundle_entries, tar_gz

# (method, route path) -> the audit action it records. Add a row with every new admin route.
ACTIONS: dict[tuple[str, str], str] = {
    ("POST", "/api/users"): "user.create",
    ("PUT", "/api/users/{user_id}"): "user.update",
    ("DELETE", "/api/users/{user_id}"): "user.delete",
    ("POST", "/api/devices"): "device.create",
    ("PUT", "/api/devices/{device_id}"): "device.update",
    ("POST", "/api/devices/{device_id}/assign"): "device.assign",
    ("DELETE", "/api/devices/{device_id}/assign/{user_id}"): "device.unassign",
    ("POST", "/api/devices/{device_id}/approve"): "device.approve",
    ("POST", "/api/devices/{device_id}/credentials"): "device.credentials",
    ("DELETE", "/api/devices/{device_id}/credentials"): "device.credentials_revoked",
    ("POST", "/api/devices/{device_id}/command-secret"): "device.command_secret",
    ("DELETE", "/api/devices/{device_id}"): "device.delete",
    ("POST", "/api/tokens"): "token.create",
    ("DELETE", "/api/tokens/{token_id}"): "token.revoke",
    ("POST", "/api/devices/{device_id}/commands"): "device.command",
    ("POST", "/api/ota/bundles"): "ota.bundle_upload",
    ("POST", "/api/integrations/emoncms"): "emoncms.create",
    ("PUT", "/api/integrations/emoncms/{target_id}"): "emoncms.update",
    ("DELETE", "/api/integrations/emoncms/{target_id}"): "emoncms.delete",
    ("DELETE", "/api/users/{user_id}/totp"): "auth.totp_disabled",
    ("POST", "/api/tariffs"): "tariff.create",
    ("PUT", "/api/tariffs/{tariff_id}"): "tariff.update",
    ("DELETE", "/api/tariffs/{tariff_id}"): "tariff.delete",
}
FLAT_TARIFF = {
    "name": "Flat",
    "currency": "EUR",
    "timezone": "UTC",
    "versions": [{"effective_from": "2026-01-01", "kind": "flat", "price": "0.30"}],
}


def test_every_admin_mutation_is_listed_here(app: Any) -> None:
    mutating = {
        (m, p)
        for m, p in route_table(app)
        if m in {"POST", "PUT", "PATCH", "DELETE"} and RULES.get((m, p)) == ADMIN
    }
    assert mutating - set(ACTIONS) == set(), "admin routes without an audit check"


def test_each_admin_call_leaves_an_entry(admin_api: Any, ctx: Any) -> None:
    from meterhub.db.models import DEVICE_PENDING, Device

    with ctx.sessions() as db:
        db.add(Device(serial_number="PENDING-1", status=DEVICE_PENDING))
        db.commit()
    pending_id = admin_api.get("/api/devices", params={"status": "pending"}).json()[0]["id"]
    state: dict[str, Any] = {}

    def step(method: str, path: str, call: Callable[[], Any], target: Callable[[Any], str]) -> None:
        before = {e["id"] for e in audit_entries(admin_api)}
        res = call()
        assert res.status_code < 300, (method, path, res.text)
        new = [e for e in audit_entries(admin_api) if e["id"] not in before]
        action = ACTIONS[(method, path)]
        match = [e for e in new if e["action"] == action]
        assert match, (action, new)
        entry = match[0]
        assert entry["actor_name"] == "root" and entry["actor_id"] is not None
        assert entry["target_id"] == target(res), (action, entry)
        assert entry["target_type"] in {
            "user",
            "device",
            "token",
            "firmware",
            "emoncms_target",
            "tariff",
        }
        assert entry["ts"]
        state[action] = res

    step(
        "POST",
        "/api/users",
        lambda: admin_api.post("/api/users", json={"username": "eve", "password": "eve-pass-1234"}),
        lambda r: str(r.json()["id"]),
    )
    uid = state["user.create"].json()["id"]
    step(
        "PUT",
        "/api/users/{user_id}",
        lambda: admin_api.put(
            f"/api/users/{uid}", json={"full_name": "Eve", "password": "new-pass-12345"}
        ),
        lambda r: str(uid),
    )
    step(
        "POST",
        "/api/devices",
        lambda: admin_api.post("/api/devices", json={"serial_number": "AUD-1"}),
        lambda r: str(r.json()["id"]),
    )
    did = state["device.create"].json()["id"]
    step(
        "PUT",
        "/api/devices/{device_id}",
        lambda: admin_api.put(f"/api/devices/{did}", json={"name": "n"}),
        lambda r: str(did),
    )
    step(
        "POST",
        "/api/devices/{device_id}/assign",
        lambda: admin_api.post(f"/api/devices/{did}/assign", json={"user_id": uid}),
        lambda r: str(did),
    )
    step(
        "DELETE",
        "/api/devices/{device_id}/assign/{user_id}",
        lambda: admin_api.delete(f"/api/devices/{did}/assign/{uid}"),
        lambda r: str(did),
    )
    ctx.mqtt_publish = lambda target, topic, payload: None  # no broker needed
    ctx.broker_target = BrokerTarget("127.0.0.1", 1883)
    step(
        "POST",
        "/api/devices/{device_id}/commands",
        lambda: admin_api.post(f"/api/devices/{did}/commands", json={"cmd": "identify"}),
        lambda r: str(did),
    )
    step(
        "POST",
        "/api/ota/bundles",
        lambda: admin_api.post(
            "/api/ota/bundles", files={"file": ("fw.tar.gz", tar_gz(bundle_entries()))}
        ),
        lambda r: r.json()["version"],
    )
    step(
        "POST",
        "/api/devices/{device_id}/approve",
        lambda: admin_api.post(f"/api/devices/{pending_id}/approve"),
        lambda r: str(pending_id),
    )
    step(
        "POST",
        "/api/devices/{device_id}/credentials",
        lambda: admin_api.post(f"/api/devices/{did}/credentials"),
        lambda r: str(did),
    )
    step(
        "DELETE",
        "/api/devices/{device_id}/credentials",
        lambda: admin_api.delete(f"/api/devices/{did}/credentials"),
        lambda r: str(did),
    )
    step(
        "POST",
        "/api/devices/{device_id}/command-secret",
        lambda: admin_api.post(f"/api/devices/{did}/command-secret"),
        lambda r: str(did),
    )
    step(
        "DELETE",
        "/api/devices/{device_id}",
        lambda: admin_api.delete(f"/api/devices/{did}"),
        lambda r: str(did),
    )
    step(
        "POST",
        "/api/tokens",
        lambda: admin_api.post("/api/tokens", json={"name": "t"}),
        lambda r: str(r.json()["id"]),
    )
    tid = state["token.create"].json()["id"]
    step(
        "DELETE",
        "/api/tokens/{token_id}",
        lambda: admin_api.delete(f"/api/tokens/{tid}"),
        lambda r: str(tid),
    )
    emoncms_body = {"name": "aud", "base_url": "http://emon.local", "api_key": "k" * 32}
    step(
        "POST",
        "/api/integrations/emoncms",
        lambda: admin_api.post("/api/integrations/emoncms", json=emoncms_body),
        lambda r: str(r.json()["id"]),
    )
    eid = state["emoncms.create"].json()["id"]
    step(
        "PUT",
        "/api/integrations/emoncms/{target_id}",
        lambda: admin_api.put(f"/api/integrations/emoncms/{eid}", json={"api_key": "q" * 32}),
        lambda r: str(eid),
    )
    step(
        "DELETE",
        "/api/integrations/emoncms/{target_id}",
        lambda: admin_api.delete(f"/api/integrations/emoncms/{eid}"),
        lambda r: str(eid),
    )
    step(
        "POST",
        "/api/tariffs",
        lambda: admin_api.post("/api/tariffs", json=FLAT_TARIFF),
        lambda r: str(r.json()["id"]),
    )
    tid = state["tariff.create"].json()["id"]
    step(
        "PUT",
        "/api/tariffs/{tariff_id}",
        lambda: admin_api.put(f"/api/tariffs/{tid}", json=FLAT_TARIFF | {"name": "Flat 2"}),
        lambda r: str(tid),
    )
    step(
        "DELETE",
        "/api/tariffs/{tariff_id}",
        lambda: admin_api.delete(f"/api/tariffs/{tid}"),
        lambda r: str(tid),
    )
    step(
        "DELETE",
        "/api/users/{user_id}/totp",
        lambda: admin_api.delete(f"/api/users/{uid}/totp"),
        lambda r: str(uid),
    )
    step(
        "DELETE",
        "/api/users/{user_id}",
        lambda: admin_api.delete(f"/api/users/{uid}"),
        lambda r: str(uid),
    )
    assert set(state) == set(ACTIONS.values())

    entries = audit_entries(admin_api)
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    assert not any("new-pass-12345" in str(e) or "eve-pass-1234" in str(e) for e in entries)
    assert not any("k" * 32 in str(e) or "q" * 32 in str(e) for e in entries)
    page = admin_api.get("/api/audit", params={"limit": 2, "before_id": entries[2]["id"]})
    assert [e["id"] for e in page.json()] == [entries[3]["id"], entries[4]["id"]]


def test_logins_are_audited(admin_api: Any, raw_client: Any) -> None:
    raw_client(ip="192.0.2.7").post(
        "/api/auth/login", json={"username": "root", "password": "wrong-one"}
    )
    actions = [(e["action"], e["client_ip"]) for e in audit_entries(admin_api)]
    assert ("auth.login_failed", "192.0.2.7") in actions
    assert any(a == "auth.login" for a, _ in actions)
