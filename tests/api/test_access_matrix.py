"""Every route of the app x every kind of caller, checked against the route's rule.

The rules live in RULES below; a route the app serves that has no rule here fails
`test_every_route_has_a_rule`, so nobody can add an endpoint without deciding who may
call it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from meterhub.config import load_settings
from meterhub.db.models import Alert, AlertChannel, AlertRule, DeviceCommand
from meterhub.db.types import utcnow
from meterhub.ingest.messages import decode_message
from meterhub.store import TelemetryStore
from meterhub.web.app import create_app, route_table

PUBLIC, AUTH, ADMIN, DEVICE = "public", "auth", "admin", "device"
ADMIN_OWN = "admin-own"  # the admin's own object: others get 404 (they cannot see it)
# Dashboard pages: anonymous visitors are redirected (303) to /login instead of a 401, and
# refusals are HTML pages (403 for admin pages, 404 for a device that is not yours).
PAGE, PAGE_ADMIN, PAGE_DEVICE = "page", "page-admin", "page-device"
PAGE_RULES = {PAGE, PAGE_ADMIN, PAGE_DEVICE}
# Firmware downloads for devices: only an OTA token (Authorization: Bearer, from the `ota`
# command) opens them; a session, even an admin's, does not.
OTA_TOKEN = "ota-token"
COMMAND_ID = "00000000-0000-4000-8000-00000000c0de"
DENIED = {401, 403, 404}
# Alert rules and channels belong to alice (the "with" caller); the admin deletes after
# her, so finds it gone (404): what the matrix checks there is that nobody else may.
OWNED_DELETE = "owned-delete"

RULES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): AUTH,
    ("GET", "/api/auth/me"): AUTH,
    ("PUT", "/api/auth/me"): AUTH,
    ("POST", "/api/auth/password"): AUTH,
    ("POST", "/api/auth/reauth"): AUTH,
    ("POST", "/api/auth/totp/setup"): AUTH,
    ("POST", "/api/auth/totp/confirm"): AUTH,
    ("DELETE", "/api/auth/totp"): AUTH,
    # Any user may hold read tokens (their own devices only); the token id of the matrix
    # belongs to the admin, so other users get 404 on DELETE.
    ("GET", "/api/tokens"): AUTH,
    ("POST", "/api/tokens"): AUTH,
    ("DELETE", "/api/tokens/{token_id}"): ADMIN_OWN,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("GET", "/api/users/{user_id}"): ADMIN,
    ("PUT", "/api/users/{user_id}"): ADMIN,
    ("DELETE", "/api/users/{user_id}"): ADMIN,
    ("DELETE", "/api/users/{user_id}/totp"): ADMIN,
    ("GET", "/api/devices"): AUTH,
    ("POST", "/api/devices"): ADMIN,
    ("GET", "/api/devices/{device_id}"): DEVICE,
    ("GET", "/api/devices/{device_id}/events"): DEVICE,
    ("PUT", "/api/devices/{device_id}"): ADMIN,
    ("DELETE", "/api/devices/{device_id}"): ADMIN,
    ("POST", "/api/devices/{device_id}/assign"): ADMIN,
    ("DELETE", "/api/devices/{device_id}/assign/{user_id}"): ADMIN,
    ("POST", "/api/devices/{device_id}/approve"): ADMIN,
    ("POST", "/api/devices/{device_id}/credentials"): ADMIN,
    ("DELETE", "/api/devices/{device_id}/credentials"): ADMIN,
    ("POST", "/api/devices/{device_id}/command-secret"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
    ("GET", "/api/readings/{serial}"): DEVICE,
    ("GET", "/api/readings/{serial}/latest"): DEVICE,
    ("GET", "/api/readings/{serial}/summary"): DEVICE,
    ("GET", "/api/readings/{serial}/export"): DEVICE,
    ("GET", "/api/readings/{serial}/cost"): DEVICE,
    ("GET", "/api/readings/{serial}/bill"): DEVICE,
    ("GET", "/api/tariffs"): AUTH,
    ("POST", "/api/tariffs"): ADMIN,
    ("GET", "/api/tariffs/{tariff_id}"): DEVICE,  # the tariff of device A-1
    ("PUT", "/api/tariffs/{tariff_id}"): ADMIN,
    ("DELETE", "/api/tariffs/{tariff_id}"): ADMIN,
    ("GET", "/api/dashboard/stats"): AUTH,
    ("GET", "/api/ingest/rejects"): ADMIN,
    ("GET", "/metrics"): AUTH,
    ("GET", "/api/integrations"): ADMIN,
    ("POST", "/api/integrations/emoncms"): ADMIN,
    ("PUT", "/api/integrations/emoncms/{target_id}"): ADMIN,
    ("DELETE", "/api/integrations/emoncms/{target_id}"): ADMIN,
    ("GET", "/login"): PUBLIC,
    ("GET", "/"): PAGE,
    ("GET", "/devices"): PAGE,
    ("GET", "/devices/{serial}"): PAGE_DEVICE,
    ("GET", "/live"): PAGE,
    ("GET", "/analytics"): PAGE,
    ("GET", "/settings"): PAGE,
    ("GET", "/report"): PAGE,
    ("GET", "/users"): PAGE_ADMIN,
    ("GET", "/admin/devices"): PAGE_ADMIN,
    ("GET", "/admin/integrations"): PAGE_ADMIN,
    ("GET", "/admin/tariffs"): PAGE_ADMIN,
    ("POST", "/api/devices/{device_id}/commands"): ADMIN,
    ("GET", "/api/devices/{device_id}/commands"): ADMIN,
    ("GET", "/api/devices/{device_id}/commands/{command_id}"): ADMIN,
    ("POST", "/api/ota/bundles"): ADMIN,
    ("GET", "/api/ota/bundles"): ADMIN,
    ("GET", "/ota/{version}/{file_path:path}"): OTA_TOKEN,
    ("WEBSOCKET", "/ws"): AUTH,
    ("GET", "/api/alert-channels"): AUTH,
    ("POST", "/api/alert-channels"): AUTH,
    ("DELETE", "/api/alert-channels/{channel_id}"): OWNED_DELETE,
    ("GET", "/api/alert-rules"): AUTH,
    ("POST", "/api/alert-rules"): AUTH,
    ("GET", "/api/alert-rules/{rule_id}"): DEVICE,
    ("PUT", "/api/alert-rules/{rule_id}"): DEVICE,
    ("DELETE", "/api/alert-rules/{rule_id}"): OWNED_DELETE,
    ("POST", "/api/alert-rules/{rule_id}/meter-threshold"): DEVICE,
    ("GET", "/api/alerts"): AUTH,
    ("GET", "/api/alerts/count"): AUTH,
    ("GET", "/api/alerts/{alert_id}"): DEVICE,
    ("POST", "/api/alerts/{alert_id}/ack"): DEVICE,
    ("GET", "/api/alerts/{alert_id}/deliveries"): DEVICE,
    ("GET", "/alerts"): PAGE,
}

TARIFF = {
    "name": "Flat",
    "currency": "EUR",
    "timezone": "UTC",
    "versions": [{"effective_from": "2026-01-01", "kind": "flat", "price": "0.30"}],
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/tariffs"): TARIFF | {"name": "Another"},
    ("PUT", "/api/tariffs/{tariff_id}"): TARIFF,
    ("POST", "/api/auth/login"): {"username": "victim", "password": "victim-pass-1234"},
    ("PUT", "/api/auth/me"): {"full_name": "Somebody"},
    ("POST", "/api/auth/password"): {"current_password": "wrong-one", "new_password": "x" * 12},
    ("POST", "/api/tokens"): {"name": "script"},
    ("POST", "/api/auth/reauth"): {"password": "wrong-one"},
    ("POST", "/api/auth/totp/confirm"): {"code": "123456"},
    ("POST", "/api/users"): {"username": "newbie", "password": "newbie-pass-1234"},
    ("PUT", "/api/users/{user_id}"): {"full_name": "Renamed"},
    ("POST", "/api/devices"): {"serial_number": "NEW-1"},
    ("PUT", "/api/devices/{device_id}"): {"name": "renamed", "topic_id": "MATRIX-ROOM"},
    # a 422 for the admin: the matrix app has no broker (a valid command would be a 503)
    ("POST", "/api/devices/{device_id}/commands"): {"cmd": "not-a-command"},
    ("POST", "/api/integrations/emoncms"): {
        "name": "second",
        "base_url": "http://127.0.0.1:9",
        "api_key": "k" * 32,
    },
    ("PUT", "/api/integrations/emoncms/{target_id}"): {"enabled": False},
    ("POST", "/api/alert-channels"): {"kind": "ntfy", "url": "http://127.0.0.1:9/t"},
    ("POST", "/api/alert-rules"): {"name": "r", "metric": "offline"},
    ("PUT", "/api/alert-rules/{rule_id}"): {"name": "renamed"},
    ("POST", "/api/alert-rules/{rule_id}/meter-threshold"): {"watts": 100},
}

EXPECTED = {
    PUBLIC: {"anonymous": True, "without": True, "with": True, "admin": True},
    AUTH: {"anonymous": 401, "without": True, "with": True, "admin": True},
    ADMIN: {"anonymous": 401, "without": 403, "with": 403, "admin": True},
    DEVICE: {"anonymous": 401, "without": 404, "with": True, "admin": True},
    ADMIN_OWN: {"anonymous": 401, "without": 404, "with": 404, "admin": True},
    PAGE: {"anonymous": 303, "without": True, "with": True, "admin": True},
    PAGE_ADMIN: {"anonymous": 303, "without": 403, "with": 403, "admin": True},
    PAGE_DEVICE: {"anonymous": 303, "without": 404, "with": True, "admin": True},
    OTA_TOKEN: {"anonymous": 401, "without": 401, "with": 401, "admin": 401},
    OWNED_DELETE: {"anonymous": 401, "without": 404, "with": True, "admin": 404},
}


def test_every_route_has_a_rule(tmp_path: Any) -> None:
    app = create_app(load_settings({"METERHUB_DATA_DIR": tmp_path}))
    served = set(route_table(app))
    assert served - set(RULES) == set(), "routes without an access rule"
    assert set(RULES) - served == set(), "rules for routes that no longer exist"


def websocket_devices(api: Any, url: str) -> list[str] | None:
    """The serials /ws announces to this caller, or None when it closes with 4401."""
    with api.client.websocket_connect(url) as ws:
        try:
            frame = ws.receive_json()
        except WebSocketDisconnect as exc:
            assert exc.code == 4401
            return None
    hello = frame[0] if isinstance(frame, list) else frame
    assert hello["type"] == "hello"
    return sorted(hello["devices"])


@pytest.mark.parametrize(("method", "path"), sorted(RULES), ids=lambda v: str(v))
def test_route_obeys_its_rule(
    method: str, path: str, admin_api: Any, make_user: Any, make_api: Any, ctx: Any
) -> None:
    device = admin_api.post("/api/devices", json={"serial_number": "A-1"}).json()
    TelemetryStore(ctx.engine).write(
        decode_message(
            "meter/A-1/data", b'{"voltage":230,"current":1,"power":230,"energy":1.5}', time.time()
        )
    )
    admin_api.post("/api/devices", json={"serial_number": "B-1"})
    tariff = admin_api.post("/api/tariffs", json=TARIFF).json()
    admin_api.put(f"/api/devices/{device['id']}", json={"tariff_id": tariff["id"]})
    alice = make_user("alice", (device["id"],))
    bob = make_user("bob")
    victim = make_user("victim")
    token = admin_api.post("/api/tokens", json={"name": "t"}).json()
    emoncms = admin_api.post(
        "/api/integrations/emoncms",
        json={"name": "first", "base_url": "http://127.0.0.1:9", "api_key": "k" * 32},
    ).json()
    user_id = alice.user["id"] if path.endswith("/assign/{user_id}") else victim.user["id"]
    with ctx.sessions() as db:
        db.add(
            DeviceCommand(
                id=COMMAND_ID,
                device_id=device["id"],
                cmd="identify",
                args={},
                status="pending",
                expires_at=utcnow(),
            )
        )
        channel = AlertChannel(
            owner_id=alice.user["id"], name="c", kind="ntfy", target="http://127.0.0.1:9/t"
        )
        rule = AlertRule(
            owner_id=alice.user["id"], name="r", device_id=device["id"], metric="power", op=">",
            threshold=1.0, for_s=0, severity="minor", tz="UTC", channel_ids=[],
        )  # fmt: skip
        db.add_all([channel, rule])
        db.flush()
        alert = Alert(
            rule_id=rule.id, device_id=device["id"], owner_id=alice.user["id"], serial="A-1",
            metric="power", severity="minor", state="active", message="m",
            open_key=f"{rule.id}:{device['id']}",
        )  # fmt: skip
        db.add(alert)
        db.commit()
        ids = {"channel_id": channel.id, "rule_id": rule.id, "alert_id": alert.id}
    url = path.replace(":path}", "}").format(
        **ids,
        device_id=device["id"],
        user_id=user_id,
        token_id=token["id"],
        target_id=emoncms["id"],
        tariff_id=tariff["id"],
        serial=device["serial_number"],
        command_id=COMMAND_ID,
        version="1.0.0",
        file_path="manifest.json",
    )
    body = BODIES.get((method, path))
    if path.endswith("/assign") and method == "POST":
        body = {"user_id": bob.user["id"]}
    callers = {"anonymous": make_api(), "without": bob, "with": alice, "admin": admin_api}
    rule = RULES[(method, path)]
    if method == "WEBSOCKET":
        sees = {"anonymous": None, "without": [], "with": ["A-1"], "admin": ["A-1", "B-1"]}
        for who, expected_devices in sees.items():
            assert websocket_devices(callers[who], url) == expected_devices, who
        return
    for who in ("anonymous", "without", "with", "admin"):
        res = callers[who].request(method, url, json=body, follow_redirects=False)
        expected = EXPECTED[rule][who]
        assert res.status_code < 500, (who, res.text)
        if expected is True:
            assert res.status_code not in DENIED, f"{who} denied {method} {url}: {res.text}"
        else:
            assert res.status_code == expected, f"{who} on {method} {url}: {res.text}"
            if rule in PAGE_RULES and expected == 303:
                assert res.headers["location"].startswith("/login")
            elif rule in PAGE_RULES:
                assert res.headers["content-type"].startswith("text/html")
            else:
                assert "error" in res.json()
