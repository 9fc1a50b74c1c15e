"""The default admin (admin / admin123) must change the password before anything else."""

from __future__ import annotations

import re
from typing import Any

from meterhub.context import AppContext
from meterhub.services import users
from meterhub.web.app import route_table
from tests.api.conftest import login
from tests.api.test_access_matrix import OTA_TOKEN, PUBLIC, RULES

ALLOWED = {("GET", "/api/auth/me"), ("POST", "/api/auth/password"), ("POST", "/api/auth/logout")}


def _default_admin(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        assert users.ensure_default_admin(db) is not None
        assert users.ensure_default_admin(db) is None  # only when there is no admin
        db.commit()


def test_every_other_route_says_change_your_password(
    app: Any, ctx: AppContext, raw_client: Any
) -> None:
    _default_admin(ctx)
    client = raw_client()
    body = login(client, "admin", "admin123")
    assert body["user"]["must_change_password"] is True
    assert body["user"]["role"] == "admin"
    checked = 0
    for method, path in route_table(app):
        if (
            method == "WEBSOCKET"
            or (method, path) in ALLOWED
            or RULES.get((method, path)) in (PUBLIC, OTA_TOKEN)
        ):
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        res = client.request(method, url, json={}, follow_redirects=False)
        if path.startswith("/api/"):
            assert res.status_code == 403, (method, url, res.text)
            assert res.json()["code"] == "password_change_required"
            assert "change your password" in res.json()["error"]
        else:  # a page: refuse or send to the password form, never serve it
            assert res.status_code in {303, 307, 302, 403}, (method, url, res.status_code)
        checked += 1
    assert checked >= 15

    assert client.get("/api/auth/me").status_code == 200
    res = client.post(
        "/api/auth/password", json={"current_password": "admin123", "new_password": "a-better-one"}
    )
    assert res.status_code == 200, res.text
    assert res.json()["user"]["must_change_password"] is False
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    assert client.get("/api/users").status_code == 200


def test_forced_change_also_binds_tokens_and_logout_works(ctx: AppContext, raw_client: Any) -> None:
    _default_admin(ctx)
    client = raw_client()
    login(client, "admin", "admin123")
    assert client.post("/api/tokens", json={"name": "t"}).status_code == 403
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401
