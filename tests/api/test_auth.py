"""Login, logout, me, password change; server-side sessions, cookies, fixation, CSRF."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from sqlalchemy import update

from meterhub.context import AppContext
from meterhub.db.models import UserSession
from meterhub.db.types import utcnow
from meterhub.security import passwords
from meterhub.security.sessions import CSRF_COOKIE, SESSION_COOKIE, SESSION_IDLE, SESSION_MAX
from meterhub.web.app import route_table
from tests.api.conftest import login, session_cookie, with_cookie

USER_FIELDS = {"id", "username", "email", "full_name", "role", "disabled", "must_change_password"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def set_cookie_headers(res: Any) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in res.headers.get_list("set-cookie")}


def test_login_me_logout(raw_client: Any, add_user: Any) -> None:
    add_user("alice", email="alice@example.com")
    client = raw_client()
    body = login(client, "alice", "alice-pass-1234")
    assert set(body["user"]) >= USER_FIELDS, body
    assert body["user"]["username"] == "alice"
    assert "password" not in str(body).replace("must_change_password", "")
    assert body["csrf_token"] == client.cookies.get(CSRF_COOKIE)
    me = client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"

    old = session_cookie(client)
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401
    # The cookie value itself is dead on the server, not just dropped by this browser.
    thief = raw_client()
    with_cookie(thief, old)
    res = thief.get("/api/auth/me")
    assert res.status_code == 401 and "error" in res.json()


def test_not_logged_in_is_401_json(raw_client: Any) -> None:
    res = raw_client().get("/api/auth/me")
    assert res.status_code == 401
    assert res.json() == {"error": "not logged in"}


def test_cookie_flags_over_http(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    res = raw_client().post(
        "/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"}
    )
    cookies = set_cookie_headers(res)
    session, csrf = cookies[SESSION_COOKIE].lower(), cookies[CSRF_COOKIE].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert "secure" not in session  # plain http (development): a Secure cookie would be lost
    assert "httponly" not in csrf and "samesite=lax" in csrf  # the page's script reads it


def test_cookies_secure_over_https(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    client = raw_client(https=True)
    res = client.post("/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"})
    assert res.status_code == 200
    for header in set_cookie_headers(res).values():
        assert "; secure" in header.lower(), header
    assert "max-age=31536000" in res.headers["strict-transport-security"]
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    assert client.get("/api/auth/me").status_code == 200


def test_every_login_gets_a_new_session_id(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    client = raw_client()
    login(client, "alice", "alice-pass-1234")
    first = session_cookie(client)
    login(client, "alice", "alice-pass-1234")
    second = session_cookie(client)
    assert first != second
    stale = raw_client()
    with_cookie(stale, first)
    assert stale.get("/api/auth/me").status_code == 401  # the replaced session ended


def test_planted_session_cookie_is_never_adopted(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    add_user("mallory")
    attacker = raw_client()
    login(attacker, "mallory", "mallory-pass-1234")
    for planted in ("attacker-chosen-session-id", session_cookie(attacker)):
        victim = raw_client()
        with_cookie(victim, planted)
        login(victim, "alice", "alice-pass-1234")
        assert session_cookie(victim) != planted
        replay = raw_client()
        with_cookie(replay, planted)
        me = replay.get("/api/auth/me")
        # The planted id never becomes alice's session.
        assert me.status_code == 401 or me.json()["username"] != "alice"


def test_password_change_ends_every_session(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    here, elsewhere = raw_client(), raw_client(ip="127.0.0.3")
    login(here, "alice", "alice-pass-1234")
    login(elsewhere, "alice", "alice-pass-1234")
    old = session_cookie(here)
    res = here.post(
        "/api/auth/password",
        json={"current_password": "alice-pass-1234", "new_password": "alice-pass-2"},
    )
    assert res.status_code == 200, res.text
    assert session_cookie(here) != old  # this client got a fresh session ...
    here.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    assert here.get("/api/auth/me").status_code == 200
    assert elsewhere.get("/api/auth/me").status_code == 401  # ... every other one ended
    stale = raw_client()
    with_cookie(stale, old)
    assert stale.get("/api/auth/me").status_code == 401
    fresh = raw_client()
    bad = fresh.post("/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"})
    assert bad.status_code == 401
    login(fresh, "alice", "alice-pass-2")


def test_password_change_rules(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    client = raw_client()
    login(client, "alice", "alice-pass-1234")
    cases = [
        ("wrong-current", "alice-pass-2", "current_password"),
        ("alice-pass-1234", "short", "new_password"),  # < 12 characters
        ("alice-pass-1234", "ALICE", "new_password"),
        ("alice-pass-1234", "alice-pass-1234", "new_password"),
    ]
    for current, new, field in cases:
        res = client.post(
            "/api/auth/password", json={"current_password": current, "new_password": new}
        )
        assert res.status_code == 422, (new, res.text)
        assert res.json()["field"].endswith(field) or res.json()["field"] == "password", res.text
    # The username rule only bites at >= 12 characters too:
    add_user("bobbybobby12")
    bob = raw_client()
    login(bob, "bobbybobby12", "bobbybobby12-pass-1234")
    res = bob.post(
        "/api/auth/password",
        json={"current_password": "bobbybobby12-pass-1234", "new_password": "BobbyBobby12"},
    )
    assert res.status_code == 422 and "username" in res.json()["error"]


def test_disabling_a_user_ends_their_sessions(
    admin_api: Any, raw_client: Any, add_user: Any
) -> None:
    alice_id = add_user("alice")
    alice = raw_client()
    login(alice, "alice", "alice-pass-1234")
    res = admin_api.put(f"/api/users/{alice_id}", json={"disabled": True})
    assert res.status_code == 200 and res.json()["disabled"] is True
    assert alice.get("/api/auth/me").status_code == 401
    denied = raw_client().post(
        "/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"}
    )
    assert denied.status_code == 401


def test_admin_password_reset_ends_their_sessions(
    admin_api: Any, raw_client: Any, add_user: Any
) -> None:
    alice_id = add_user("alice")
    alice = raw_client()
    login(alice, "alice", "alice-pass-1234")
    res = admin_api.put(f"/api/users/{alice_id}", json={"password": "reset-by-admin"})
    assert res.status_code == 200, res.text
    assert alice.get("/api/auth/me").status_code == 401
    login(raw_client(), "alice", "reset-by-admin")


def _state_changing_api_routes(app: Any) -> list[tuple[str, str]]:
    return [
        (m, p)
        for m, p in route_table(app)
        if m in STATE_CHANGING and p.startswith("/api/") and p != "/api/auth/login"
    ]


def test_csrf_header_required_on_every_state_changing_route(app: Any, admin_api: Any) -> None:
    routes = _state_changing_api_routes(app)
    assert len(routes) >= 10
    token = admin_api.client.headers.pop("X-CSRF-Token")
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "1", path)
        for header in (None, "wrong-" + token):
            headers = {"X-CSRF-Token": header} if header else {}
            res = admin_api.request(method, url, headers=headers, json={})
            assert res.status_code == 403, (method, url, header, res.text)
            assert res.json()["code"] == "csrf" and "X-CSRF-Token" in res.json()["error"]
    # A forged pair (cookie and header both chosen by an attacker) is refused too.
    admin_api.client.cookies.set(CSRF_COOKIE, "forged", domain="testserver.local")
    res = admin_api.put("/api/auth/me", json={"full_name": "x"}, headers={"X-CSRF-Token": "forged"})
    assert res.status_code == 403
    admin_api.client.cookies.set(CSRF_COOKIE, token, domain="testserver.local")
    ok = admin_api.put("/api/auth/me", json={"full_name": "x"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200, ok.text
    assert admin_api.get("/api/devices").status_code == 200  # reads need no header


def test_bearer_token_needs_no_csrf(admin_api: Any, raw_client: Any) -> None:
    token = admin_api.post("/api/tokens", json={"name": "script", "scope": "admin"}).json()["token"]
    script = raw_client()
    res = script.post(
        "/api/devices", json={"serial_number": "S-1"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert res.status_code == 201, res.text


def test_unknown_user_and_wrong_password_answer_alike(
    raw_client: Any, add_user: Any, admin_api: Any
) -> None:
    add_user("alice")
    disabled_id = add_user("dora")
    admin_api.put(f"/api/users/{disabled_id}", json={"disabled": True})
    answers = set()
    for username, password in [
        ("alice", "wrong-password"),
        ("nobody", "wrong-password"),
        ("dora", "dora-pass-1234"),
    ]:
        res = raw_client().post(
            "/api/auth/login", json={"username": username, "password": password}
        )
        answers.add((res.status_code, res.text))
    assert answers == {(401, '{"error":"invalid username or password"}')}


def test_unknown_user_still_runs_argon2(raw_client: Any, add_user: Any, monkeypatch: Any) -> None:
    """The two failure paths must cost the same: count verifications, not seconds."""
    add_user("alice")
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(
        passwords, "_hasher", CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    client = raw_client()
    for username in ("nobody", "alice"):
        calls.clear()
        res = client.post("/api/auth/login", json={"username": username, "password": "nope-nope"})
        assert res.status_code == 401
        assert len(calls) == 1 and calls[0].startswith("$argon2id$"), (username, calls)


def test_login_validation(raw_client: Any) -> None:
    client = raw_client()
    res = client.post("/api/auth/login", json={"username": "alice"})
    assert res.status_code == 422 and res.json()["field"] == "password"
    res = client.post("/api/auth/login", json={"username": 5, "password": "x"})
    assert res.status_code == 422 and res.json()["field"] == "username"


def test_profile_update(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    client = raw_client()
    login(client, "alice", "alice-pass-1234")
    res = client.put("/api/auth/me", json={"full_name": "Alice A", "timezone": "Europe/Paris"})
    assert res.status_code == 200 and res.json()["full_name"] == "Alice A"
    bad = client.put("/api/auth/me", json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422 and bad.json()["field"] == "timezone"
    assert client.put("/api/auth/me", json={"role": "admin"}).status_code == 422


def test_idle_and_old_sessions_expire(raw_client: Any, add_user: Any, ctx: AppContext) -> None:
    add_user("alice")
    client = raw_client()
    login(client, "alice", "alice-pass-1234")
    assert client.get("/api/auth/me").status_code == 200
    now = utcnow()
    for change in (
        {"last_seen_at": now - SESSION_IDLE - timedelta(seconds=1)},
        {"expires_at": now - timedelta(seconds=1)},
    ):
        with ctx.sessions() as db:
            db.execute(update(UserSession).values(last_seen_at=now, expires_at=now + SESSION_MAX))
            db.commit()
        assert client.get("/api/auth/me").status_code == 200
        with ctx.sessions() as db:
            db.execute(update(UserSession).values(**change))
            db.commit()
        res = client.get("/api/auth/me")
        assert res.status_code == 401 and "log in again" in res.json()["error"], change
