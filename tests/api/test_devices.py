"""Devices API: registry, unique serials, assignment, and what a user may see."""

from __future__ import annotations

from typing import Any

from meterhub.context import AppContext
from meterhub.db.models import DEVICE_PENDING, Device

DEVICE_FIELDS = {
    "id",
    "serial_number",
    "name",
    "location",
    "description",
    "status",
    "online",
    "last_seen",
    "firmware_version",
    "ip_address",
    "assigned_users",
}


def test_crud(admin_api: Any) -> None:
    res = admin_api.post(
        "/api/devices",
        json={
            "serial_number": "PZEM-1A2B3C",
            "name": "Kitchen",
            "location": "Ground floor",
            "description": "Fridge circuit",
        },
    )
    assert res.status_code == 201, res.text
    device = res.json()
    assert set(device) >= DEVICE_FIELDS
    assert (device["status"], device["online"], device["assigned_users"]) == ("active", False, [])
    url = f"/api/devices/{device['id']}"
    assert admin_api.get(url).json()["name"] == "Kitchen"
    res = admin_api.put(
        url, json={"name": "Kitchen 2", "description": None, "serial_number": "PZEM-000001"}
    )
    assert res.status_code == 200, res.text
    assert (res.json()["name"], res.json()["description"], res.json()["serial_number"]) == (
        "Kitchen 2",
        None,
        "PZEM-000001",
    )
    assert [d["serial_number"] for d in admin_api.get("/api/devices").json()] == ["PZEM-000001"]
    assert admin_api.delete(url).status_code == 204
    assert admin_api.get(url).status_code == 404
    assert admin_api.delete(url).status_code == 404


def test_serial_numbers_are_unique_and_valid(admin_api: Any) -> None:
    first = admin_api.post("/api/devices", json={"serial_number": "S-1"}).json()
    admin_api.post("/api/devices", json={"serial_number": "S-2"})
    dup = admin_api.post("/api/devices", json={"serial_number": "S-1"})
    assert dup.status_code == 409 and dup.json()["field"] == "serial_number"
    clash = admin_api.put(f"/api/devices/{first['id']}", json={"serial_number": "S-2"})
    assert clash.status_code == 409
    same = admin_api.put(f"/api/devices/{first['id']}", json={"serial_number": "S-1"})
    assert same.status_code == 200
    for bad in ("has space", "a/b", "x" * 65, ""):
        res = admin_api.post("/api/devices", json={"serial_number": bad})
        assert res.status_code == 422 and res.json()["field"] == "serial_number", bad
    res = admin_api.put(f"/api/devices/{first['id']}", json={"serial_number": None})
    assert res.status_code == 422
    res = admin_api.post("/api/devices", json={"serial_number": "S-3", "colour": "red"})
    assert res.status_code == 422 and res.json()["field"] == "colour"


def test_users_see_only_assigned_devices(admin_api: Any, make_user: Any) -> None:
    mine = admin_api.post("/api/devices", json={"serial_number": "MINE"}).json()
    other = admin_api.post("/api/devices", json={"serial_number": "OTHER"}).json()
    alice = make_user("alice", (mine["id"],))
    make_user("bob", (mine["id"],))

    listed = alice.get("/api/devices").json()
    assert [d["serial_number"] for d in listed] == ["MINE"]
    assert listed[0]["assigned_users"] == []  # a user does not learn who else sees it
    assert alice.get(f"/api/devices/{mine['id']}").status_code == 200

    hidden = alice.get(f"/api/devices/{other['id']}")
    missing = alice.get("/api/devices/987654")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"].replace(str(other["id"]), "N") == missing.json()["error"].replace(
        "987654", "N"
    )

    admin_view = admin_api.get(f"/api/devices/{mine['id']}").json()
    assert sorted(u["username"] for u in admin_view["assigned_users"]) == ["alice", "bob"]


def test_assign_and_unassign(admin_api: Any, make_user: Any) -> None:
    device = admin_api.post("/api/devices", json={"serial_number": "D-1"}).json()
    alice = make_user("alice")
    url = f"/api/devices/{device['id']}"
    assert alice.get(url).status_code == 404

    res = admin_api.post(f"{url}/assign", json={"user_id": alice.user["id"]})
    assert res.status_code == 200
    assert [u["username"] for u in res.json()["assigned_users"]] == ["alice"]
    again = admin_api.post(f"{url}/assign", json={"user_id": alice.user["id"]})
    assert again.status_code == 200 and len(again.json()["assigned_users"]) == 1  # idempotent
    assert alice.get(url).status_code == 200

    res = admin_api.delete(f"{url}/assign/{alice.user['id']}")
    assert res.status_code == 200 and res.json()["assigned_users"] == []
    assert alice.get(url).status_code == 404
    assert admin_api.delete(f"{url}/assign/{alice.user['id']}").status_code == 404
    assert admin_api.post(f"{url}/assign", json={"user_id": 999999}).status_code == 404
    assert (
        admin_api.post("/api/devices/999999/assign", json={"user_id": alice.user["id"]}).status_code
        == 404
    )
    bad = admin_api.post(f"{url}/assign", json={"user_id": "alice"})
    assert bad.status_code == 422 and bad.json()["field"] == "user_id"


def test_deleting_a_user_or_device_drops_assignments(admin_api: Any, make_user: Any) -> None:
    device = admin_api.post("/api/devices", json={"serial_number": "D-1"}).json()
    alice = make_user("alice", (device["id"],))
    assert admin_api.delete(f"/api/users/{alice.user['id']}").status_code == 204
    assert admin_api.get(f"/api/devices/{device['id']}").json()["assigned_users"] == []
    bob = make_user("bob", (device["id"],))
    assert admin_api.delete(f"/api/devices/{device['id']}").status_code == 204
    assert bob.get("/api/devices").json() == []


def test_pending_devices(admin_api: Any, make_user: Any, ctx: AppContext) -> None:
    with ctx.sessions() as db:
        pending = Device(serial_number="UNKNOWN-1", status=DEVICE_PENDING)
        db.add(pending)
        db.commit()
        pending_id = pending.id
    admin_api.post("/api/devices", json={"serial_number": "KNOWN-1"})
    listed = admin_api.get("/api/devices", params={"status": "pending"}).json()
    assert [d["serial_number"] for d in listed] == ["UNKNOWN-1"]
    alice = make_user("alice", (pending_id,))
    assert alice.get(f"/api/devices/{pending_id}").status_code == 404  # not yet approved
    res = admin_api.post(f"/api/devices/{pending_id}/approve")
    assert res.status_code == 200 and res.json()["status"] == "active"
    assert alice.get(f"/api/devices/{pending_id}").status_code == 200
    assert admin_api.post(f"/api/devices/{pending_id}/approve").status_code == 409
    assert admin_api.get("/api/devices", params={"status": "bogus"}).status_code == 422


def test_protocol_and_topic_id(admin_api: Any) -> None:
    plug = admin_api.post(
        "/api/devices",
        json={"serial_number": "PLUG-1", "protocol": "tasmota", "topic_id": "tasmota_1A2B3C"},
    )
    assert plug.status_code == 201, plug.text
    assert (plug.json()["protocol"], plug.json()["topic_id"]) == ("tasmota", "tasmota_1A2B3C")
    meter = admin_api.post("/api/devices", json={"serial_number": "M-1"}).json()
    assert (meter["protocol"], meter["topic_id"]) == ("meterhub", None)
    # a topic id names one device, whatever the protocols (unique among serials and ids)
    dup = admin_api.post(
        "/api/devices",
        json={"serial_number": "PLUG-2", "protocol": "tasmota", "topic_id": "tasmota_1A2B3C"},
    )
    assert dup.status_code == 409 and dup.json()["field"] == "topic_id", dup.text
    url = f"/api/devices/{meter['id']}"
    res = admin_api.put(url, json={"protocol": "esphome", "topic_id": "tasmota_1A2B3C"})
    assert res.status_code == 409 and res.json()["field"] == "topic_id", res.text
    res = admin_api.put(url, json={"protocol": "esphome", "topic_id": "kitchen"})
    assert res.status_code == 200 and res.json()["protocol"] == "esphome", res.text
    res = admin_api.put(url, json={"timezone": "Europe/Berlin"})
    assert res.status_code == 200 and res.json()["timezone"] == "Europe/Berlin", res.text
    for body in (
        {"timezone": "Mars/Olympus"},
        {"protocol": "zigbee"},
        {"protocol": None},
        {"topic_id": "a/b"},
        {"topic_id": "+"},
    ):
        res = admin_api.put(url, json=body)
        assert res.status_code in (400, 422) and "error" in res.json(), (body, res.text)
    assert admin_api.get(url).json()["protocol"] == "esphome"
