"""Token scopes, default expiry, no minting from a token, revocation on a password change,
read tokens for users (their devices only), re-authentication for sensitive actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from meterhub.context import AppContext
from meterhub.db.models import UserSession
from meterhub.db.types import utcnow
from tests.api.test_tokens import bearer


def mint(api: Any, scope: str, **extra: Any) -> dict[str, Any]:
    res = api.post("/api/tokens", json={"name": f"{scope}-token", "scope": scope, **extra})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def test_scopes_limit_what_a_token_may_do(admin_api: Any, raw_client: Any) -> None:
    script = raw_client()
    read, write, admin = (mint(admin_api, s)["token"] for s in ("read", "write", "admin"))
    new_device = {"serial_number": "SCOPE-1"}
    assert script.get("/api/devices", headers=bearer(read)).status_code == 200
    res = script.post("/api/devices", json=new_device, headers=bearer(read))
    assert res.status_code == 403 and res.json()["code"] == "token_scope"
    # write: changes, but not the admin routes
    assert script.get("/api/users", headers=bearer(write)).status_code == 403
    assert script.get("/api/users", headers=bearer(admin)).status_code == 200
    assert script.post("/api/devices", json=new_device, headers=bearer(admin)).status_code == 201


def test_every_token_expires_by_default(admin_api: Any) -> None:
    token = mint(admin_api, "read")
    assert token["scope"] == "read"
    assert token["expires_at"] is not None
    res = admin_api.post("/api/tokens", json={"name": "forever", "expires_days": None})
    assert res.status_code == 422


def test_a_token_cannot_mint_tokens(admin_api: Any, raw_client: Any) -> None:
    token = mint(admin_api, "admin")["token"]
    res = raw_client().post("/api/tokens", json={"name": "child"}, headers=bearer(token))
    assert res.status_code == 403 and res.json()["code"] == "token_not_allowed"


def test_password_change_revokes_tokens_unless_kept(admin_api: Any, raw_client: Any) -> None:
    script = raw_client()
    first = mint(admin_api, "read")["token"]
    res = admin_api.post(
        "/api/auth/password",
        json={
            "current_password": "admin-pass-1234",
            "new_password": "another-pass-5678",
            "keep_tokens": True,
        },
    )
    assert res.status_code == 200, res.text
    admin_api.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    assert script.get("/api/auth/me", headers=bearer(first)).status_code == 200
    res = admin_api.post(
        "/api/auth/password",
        json={"current_password": "another-pass-5678", "new_password": "third-pass-91011"},
    )
    assert res.status_code == 200, res.text
    assert script.get("/api/auth/me", headers=bearer(first)).status_code == 401


def test_users_may_hold_read_tokens_for_their_devices(admin_api: Any, make_user: Any) -> None:
    mine = admin_api.post("/api/devices", json={"serial_number": "MINE-1"}).json()
    admin_api.post("/api/devices", json={"serial_number": "OTHER-1"})
    alice = make_user("alice", (mine["id"],))
    assert alice.post("/api/tokens", json={"name": "w", "scope": "write"}).status_code == 403
    token = mint(alice, "read")["token"]
    script = admin_api.client.__class__(admin_api.client.app, base_url="http://testserver")
    listed = script.get("/api/devices", headers=bearer(token))
    assert [d["serial_number"] for d in listed.json()] == ["MINE-1"]
    assert script.get("/api/readings/OTHER-1/latest", headers=bearer(token)).status_code == 404
    assert [t["scope"] for t in alice.get("/api/tokens").json()] == ["read"]


def test_sensitive_actions_want_a_recent_password(
    admin_api: Any, make_user: Any, ctx: AppContext
) -> None:
    bob = make_user("bob")
    with ctx.sessions() as db:  # the admin's login was 11 minutes ago
        db.execute(update(UserSession).values(authenticated_at=utcnow() - timedelta(minutes=11)))
        db.commit()
    res = admin_api.post("/api/tokens", json={"name": "t"})
    assert res.status_code == 403 and res.json()["code"] == "reauth_required"
    res = admin_api.put(f"/api/users/{bob.user['id']}", json={"role": "admin"})
    assert res.status_code == 403 and res.json()["code"] == "reauth_required"
    assert admin_api.put(f"/api/users/{bob.user['id']}", json={"full_name": "B"}).status_code == 200
    wrong = admin_api.post("/api/auth/reauth", json={"password": "not-the-password"})
    assert wrong.status_code == 422
    ok = admin_api.post("/api/auth/reauth", json={"password": "admin-pass-1234"})
    assert ok.status_code == 200, ok.text
    assert admin_api.post("/api/tokens", json={"name": "t"}).status_code == 201
    res = admin_api.put(f"/api/users/{bob.user['id']}", json={"role": "admin"})
    assert res.status_code == 200
