"""Topic ids are set by admins only: `PUT /api/devices/{id}` with `topic_id` (the serial
rule, unique among serials and topic ids: 409 on a clash; null or the device's own serial
clears it); the endpoint is admin-only, so a user gets 403 (as the access matrix says),
even for a device assigned to them. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any


def test_admin_sets_and_clears_a_topic_id(admin_api: Any, make_user: Any) -> None:
    a = admin_api.post("/api/devices", json={"serial_number": "PZEM-A"}).json()
    b = admin_api.post("/api/devices", json={"serial_number": "PZEM-B"}).json()
    put = admin_api.put(f"/api/devices/{a['id']}", json={"topic_id": "KITCHEN"})
    assert put.status_code == 200 and put.json()["topic_id"] == "KITCHEN"
    for clash in ("KITCHEN", "PZEM-A"):  # another device's topic id, or its serial
        res = admin_api.put(f"/api/devices/{b['id']}", json={"topic_id": clash})
        assert res.status_code == 409, res.text
        assert res.json()["error"]
    bad = admin_api.put(f"/api/devices/{b['id']}", json={"topic_id": "no spaces"})
    assert bad.status_code == 422, bad.text
    # A new device may not take a serial that is a topic id, nor a serial one.
    taken = admin_api.post("/api/devices", json={"serial_number": "KITCHEN"})
    assert taken.status_code == 409, taken.text
    renamed = admin_api.put(f"/api/devices/{b['id']}", json={"serial_number": "KITCHEN"})
    assert renamed.status_code == 409, renamed.text
    own = admin_api.put(f"/api/devices/{a['id']}", json={"topic_id": "PZEM-A"})
    assert own.status_code == 200 and own.json()["topic_id"] is None
    admin_api.put(f"/api/devices/{a['id']}", json={"topic_id": "KITCHEN"})
    cleared = admin_api.put(f"/api/devices/{a['id']}", json={"topic_id": None})
    assert cleared.status_code == 200 and cleared.json()["topic_id"] is None

    alice = make_user("alice", (a["id"],))
    assert alice.put(f"/api/devices/{a['id']}", json={"topic_id": "X1"}).status_code == 403
    assert alice.put(f"/api/devices/{b['id']}", json={"topic_id": "X1"}).status_code == 403
    assert admin_api.get(f"/api/devices/{a['id']}").json()["topic_id"] is None
