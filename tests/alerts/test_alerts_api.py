"""The alerts API: rules, channels, alerts and acknowledgement, with the access rule
(users: their own rules and channels, alerts of devices they may see; 404 otherwise)."""

from __future__ import annotations

from typing import Any

from meterhub.alerts.evaluator import Evaluator

T0 = 1_790_000_000.0


def test_rules_channels_and_acknowledgement(
    ctx: Any, admin_api: Any, make_user: Any, meters: Any
) -> None:
    mine = meters.add("U-1")
    other = meters.add("U-2")
    alice = make_user("alice", (mine,))
    bob = make_user("bob", (other,))

    res = alice.post(
        "/api/alert-channels",
        json={"kind": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s3cret-s3cret-s3cret"},
    )
    assert res.status_code == 201, res.text
    channel = res.json()
    assert "secret" not in channel and channel["has_secret"] is True
    assert all("s3cret" not in str(c) for c in alice.get("/api/alert-channels").json())
    bad = alice.post("/api/alert-channels", json={"kind": "mqtt", "topic": "meter/U-2/control"})
    assert bad.status_code == 422 and bad.json()["field"] == "topic"
    assert alice.post("/api/alert-channels", json={"kind": "email"}).status_code == 422

    rule = {
        "name": "Overload",
        "device_id": mine,
        "metric": "current",
        "op": ">",
        "threshold": 10,
        "clear_threshold": 8,
        "for_s": 0,
        "severity": "critical",
        "channel_ids": [channel["id"]],
    }
    res = alice.post("/api/alert-rules", json=rule)
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["tz"] == "Europe/Berlin" and created["owner_id"] == alice.user["id"]
    # another user's device or channel: 404, never 403
    assert alice.post("/api/alert-rules", json={**rule, "device_id": other}).status_code == 404
    theirs = bob.post("/api/alert-channels", json={"kind": "ntfy", "url": "http://127.0.0.1:9/t"})
    denied = alice.post("/api/alert-rules", json={**rule, "channel_ids": [theirs.json()["id"]]})
    assert denied.status_code == 404
    nonsense = alice.post("/api/alert-rules", json={**rule, "clear_threshold": 12})
    assert nonsense.status_code == 422 and "clear_threshold" in nonsense.json()["error"]
    assert bob.get(f"/api/alert-rules/{created['id']}").status_code == 404
    assert bob.put(f"/api/alert-rules/{created['id']}", json={"name": "x"}).status_code == 404
    assert admin_api.get(f"/api/alert-rules/{created['id']}").status_code == 200
    updated = alice.put(f"/api/alert-rules/{created['id']}", json={"threshold": 9})
    assert updated.status_code == 200 and updated.json()["threshold"] == 9

    meters.send("U-1", T0, current=12.0)
    meters.send("U-2", T0, current=12.0)
    bob.post("/api/alert-rules", json={**rule, "device_id": other, "channel_ids": []})
    Evaluator(ctx.sessions, start_ms=0).step()

    listed = alice.get("/api/alerts").json()
    assert [a["serial"] for a in listed] == ["U-1"]
    alert = listed[0]
    assert alert["state"] == "active" and alert["severity"] == "critical"
    assert alice.get("/api/alerts/count").json() == {"active": 1}
    assert sorted(a["serial"] for a in admin_api.get("/api/alerts").json()) == ["U-1", "U-2"]
    assert bob.post(f"/api/alerts/{alert['id']}/ack").status_code == 404
    assert bob.get(f"/api/alerts/{alert['id']}/deliveries").status_code == 404
    acked = alice.post(f"/api/alerts/{alert['id']}/ack")
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    again = alice.post(f"/api/alerts/{alert['id']}/ack")
    assert again.status_code == 409 and again.json()["state"] == "acknowledged"
    assert alice.get("/api/alerts", params={"state": "acknowledged"}).json()[0]["id"] == alert["id"]
    assert alice.get("/api/alerts", params={"state": "nope"}).status_code == 422
    (delivery,) = alice.get(f"/api/alerts/{alert['id']}/deliveries").json()
    assert delivery["status"] == "pending" and delivery["event"] == "opened"

    # the meter's own threshold is only for meter_alarm rules
    res = alice.post(f"/api/alert-rules/{created['id']}/meter-threshold", json={"watts": 2000})
    assert res.status_code == 422
    assert alice.delete(f"/api/alert-rules/{created['id']}").status_code == 204
    assert alice.get("/api/alerts").json() == []
