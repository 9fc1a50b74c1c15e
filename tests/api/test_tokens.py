"""API tokens: shown once, hashed at rest, Bearer works, revoked or expired -> 401."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text, update

from meterhub.context import AppContext
from meterhub.db.models import ApiToken
from meterhub.db.types import utcnow


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_lifecycle(admin_api: Any, raw_client: Any, ctx: AppContext) -> None:
    created = admin_api.post("/api/tokens", json={"name": "backup script", "scope": "admin"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("mh_") and len(token) > 40
    assert created.json()["prefix"] == token[:10]

    listed = admin_api.get("/api/tokens").json()
    assert [t["name"] for t in listed] == ["backup script"]
    assert token not in admin_api.get("/api/tokens").text  # shown once, never again

    with ctx.engine.connect() as conn:  # the database holds no raw token anywhere
        rows = conn.execute(text("SELECT * FROM api_tokens")).all()
    assert rows and all(token not in str(tuple(row)) for row in rows)
    assert all(token[10:] not in str(tuple(row)) for row in rows)

    script = raw_client()
    me = script.get("/api/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["username"] == "root"
    assert script.get("/api/users", headers=bearer(token)).status_code == 200

    revoked = admin_api.delete(f"/api/tokens/{created.json()['id']}")
    assert revoked.status_code == 204
    res = script.get("/api/auth/me", headers=bearer(token))
    assert res.status_code == 401 and "token" in res.json()["error"]


def test_expired_and_unknown_tokens_are_401(
    admin_api: Any, raw_client: Any, ctx: AppContext
) -> None:
    created = admin_api.post("/api/tokens", json={"name": "short", "expires_days": 1}).json()
    assert created["expires_at"] is not None
    script = raw_client()
    assert script.get("/api/auth/me", headers=bearer(created["token"])).status_code == 200
    with ctx.sessions() as db:
        db.execute(
            update(ApiToken)
            .where(ApiToken.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.commit()
    assert script.get("/api/auth/me", headers=bearer(created["token"])).status_code == 401
    for junk in ("mh_not-a-token", "", "x" * 500):
        res = script.get("/api/auth/me", headers=bearer(junk))
        assert res.status_code == 401 and "error" in res.json()


def test_token_of_disabled_or_demoted_user(admin_api: Any, make_user: Any, raw_client: Any) -> None:
    other = make_user("second", role="admin")
    token = other.post("/api/tokens", json={"name": "t", "scope": "admin"}).json()["token"]
    script = raw_client()
    assert script.get("/api/users", headers=bearer(token)).status_code == 200
    admin_api.put(f"/api/users/{other.user['id']}", json={"role": "user"})
    assert script.get("/api/users", headers=bearer(token)).status_code == 403  # rights follow
    admin_api.put(f"/api/users/{other.user['id']}", json={"disabled": True})
    assert script.get("/api/auth/me", headers=bearer(token)).status_code == 401


def test_cannot_revoke_someone_elses_token(admin_api: Any, make_user: Any) -> None:
    other = make_user("second", role="admin")
    theirs = other.post("/api/tokens", json={"name": "t", "scope": "admin"}).json()
    assert admin_api.delete(f"/api/tokens/{theirs['id']}").status_code == 404
    assert [t["id"] for t in other.get("/api/tokens").json()] == [theirs["id"]]
