"""Request guards and resource limits: the Host allowlist, body caps, export range and
concurrency, session lifetimes and cookies, the first-start rule, and the audit trail."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from meterhub.context import AppContext
from meterhub.db.models import AuditEntry, LoginAttempt, UserSession
from meterhub.db.types import utcnow
from meterhub.ingest.messages import decode_message
from meterhub.security.sessions import SECURE_SESSION_COOKIE
from meterhub.services import audit, users
from meterhub.store import TelemetryStore
from meterhub.web.guards import host_allowed, parse_hosts
from tests.api.conftest import audit_entries, login


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("localhost:3000", True),
        ("LOCALHOST", True),
        ("192.168.1.20:3000", True),  # LAN access by address
        ("[::1]:3000", True),
        ("[fe80::1]", True),
        ("meterhub.localhost", True),
        ("evil.example", False),  # DNS rebinding: an attacker's name pointing here
        ("evil.example:3000", False),
        ("", False),
        ("192.168.1.20.evil.example", False),
    ],
)
def test_default_host_allowlist(host: str, ok: bool) -> None:
    assert host_allowed(host, parse_hosts(None)) is ok
    assert host_allowed(f"{socket.gethostname()}:3000", parse_hosts(None))


def test_configured_hosts_and_star() -> None:
    listed = parse_hosts("meter.example.org, other.example")
    assert host_allowed("meter.example.org:443", listed)
    assert not host_allowed("localhost", listed)
    assert host_allowed("10.0.0.5", listed)  # address literals always
    assert host_allowed("anything.example", parse_hosts("*"))


def test_unknown_host_gets_400(app: Any, raw_client: Any) -> None:
    client = raw_client()
    res = client.get("/healthz", headers={"Host": "rebind.attacker.example"})
    assert res.status_code == 400 and "ALLOWED_HOSTS" in res.json()["error"]
    assert client.get("/healthz", headers={"Host": "127.0.0.1:3000"}).status_code == 200


def test_bodies_over_the_cap_are_413(admin_api: Any) -> None:
    big = {"serial_number": "B-1", "description": "x" * (1024 * 1024)}
    res = admin_api.post("/api/devices", json=big)
    assert res.status_code == 413 and "larger than" in res.json()["error"]

    def chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(80):
            yield b"x" * 16384

    res = admin_api.post(
        "/api/devices", content=chunks(), headers={"content-type": "application/json"}
    )
    assert res.status_code == 413


def test_export_range_and_concurrency(admin_api: Any, ctx: AppContext) -> None:
    admin_api.post("/api/devices", json={"serial_number": "EXP-1"})
    store = TelemetryStore(ctx.engine)
    now = time.time()
    for i in range(3):
        store.write(
            decode_message(
                "meter/EXP-1/data",
                b'{"voltage":230,"current":1,"power":230,"energy":%d}' % (i + 1),
                now - 60 * (3 - i),
            )
        )
    too_long = admin_api.get(
        "/api/readings/EXP-1/export",
        params={"from": "2020-01-01T00:00:00Z", "to": "2021-06-01T00:00:00Z"},
    )
    assert too_long.status_code == 422 and "at most 366 days" in too_long.json()["error"]
    with admin_api.client.stream("GET", "/api/readings/EXP-1/export") as first:
        assert first.status_code == 200
        second = admin_api.get("/api/readings/EXP-1/export")
        assert second.status_code == 429 and "Retry-After" in second.headers
        first.read()
    again = admin_api.get("/api/readings/EXP-1/export")
    assert again.status_code == 200 and again.text.count("\n") == 4


def test_sessions_idle_out_after_12_hours(admin_api: Any, ctx: AppContext) -> None:
    assert admin_api.get("/api/auth/me").status_code == 200
    with ctx.sessions() as db:
        db.execute(
            update(UserSession).values(last_seen_at=utcnow() - timedelta(hours=12, seconds=5))
        )
        db.commit()
    assert admin_api.get("/api/auth/me").status_code == 401


def test_sessions_end_after_7_days_and_cookie_says_so(
    raw_client: Any, add_user: Any, ctx: AppContext
) -> None:
    add_user("alice")
    client = raw_client()
    res = client.post("/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"})
    cookie = res.headers["set-cookie"]
    assert f"Max-Age={7 * 86400}" in cookie
    with ctx.sessions() as db:
        session = db.scalars(select(UserSession)).one()
        assert session.expires_at - session.created_at == timedelta(days=7)


def test_tls_cookie_is_host_prefixed_and_secure(raw_client: Any, add_user: Any) -> None:
    add_user("alice")
    client = raw_client(https=True)
    res = client.post("/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"})
    header = res.headers.get_list("set-cookie")
    session = next(h for h in header if h.startswith(SECURE_SESSION_COOKIE + "="))
    assert "Secure" in session and "Path=/" in session and "Domain" not in session
    assert client.get("/api/auth/me").status_code == 200
    plain = raw_client()  # over plain HTTP the cookie cannot be Secure nor prefixed
    res = plain.post("/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"})
    assert all(not h.startswith("__Host-") for h in res.headers.get_list("set-cookie"))


def test_initial_admin_password_only_from_this_machine(ctx: AppContext, raw_client: Any) -> None:
    with ctx.sessions() as db:
        users.ensure_default_admin(db)
        db.commit()
    remote = raw_client(ip="192.0.2.50")
    res = remote.post("/api/auth/login", json={"username": "admin", "password": "admin123"})
    assert res.status_code == 403 and res.json()["code"] == "local_only"
    local = raw_client(ip="127.0.0.1")
    login(local, "admin", "admin123")
    changed = local.post(
        "/api/auth/password",
        json={"current_password": "admin123", "new_password": "a-new-admin-pass-9"},
    )
    assert changed.status_code == 200
    res = remote.post(
        "/api/auth/login", json={"username": "admin", "password": "a-new-admin-pass-9"}
    )
    assert res.status_code == 200


def test_audit_has_ip_logout_token_use_and_no_typed_names(
    admin_api: Any, raw_client: Any, make_user: Any
) -> None:
    stranger = raw_client(ip="192.0.2.9")
    stranger.post("/api/auth/login", json={"username": "MyS3cretPassw0rd", "password": "x"})
    stranger.post("/api/auth/login", json={"username": "root", "password": "wrong-password"})
    token = admin_api.post("/api/tokens", json={"name": "t"}).json()["token"]
    script = raw_client(ip="192.0.2.10")
    script.get("/api/devices", headers={"Authorization": f"Bearer {token}"})
    bob = make_user("bob")
    bob.post("/api/auth/logout")
    entries = audit_entries(admin_api)
    assert "MyS3cretPassw0rd" not in str(entries)
    failed = [e for e in entries if e["action"] == "auth.login_failed"]
    assert {e["client_ip"] for e in failed} == {"192.0.2.9"}
    assert any(e["detail"] == {"username": "root"} for e in failed)
    assert any(e["action"] == "token.use" and e["client_ip"] == "192.0.2.10" for e in entries)
    assert any(e["action"] == "auth.logout" and e["actor_name"] == "bob" for e in entries)
    over_http = [e for e in entries if e["actor_name"] != "system"]  # not the fixture's setup
    assert all(e["client_ip"] for e in over_http), [e for e in over_http if not e["client_ip"]]


def test_audit_log_is_bounded(ctx: AppContext) -> None:
    with ctx.sessions() as db:
        for i in range(150):
            audit.record(db, None, "test.fill", "x", i)
        db.commit()
        assert audit.prune(db, 100) == 50
        db.commit()
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == 100
        oldest = db.scalar(select(func.min(AuditEntry.target_id)))
        assert oldest is not None


def test_concurrent_hash_cap_answers_429(
    app: Any, add_user: Any, raw_client: Any, ctx: AppContext
) -> None:
    from meterhub.security import throttle

    add_user("alice")
    slots = throttle.hash_slots
    held = [slots._slots.acquire(timeout=1) for _ in range(slots.size)]
    original = slots.wait_s
    slots.wait_s = 0.05
    try:
        res = raw_client().post(
            "/api/auth/login", json={"username": "alice", "password": "alice-pass-1234"}
        )
        assert res.status_code == 429 and "busy" in res.json()["error"]
        with ctx.sessions() as db:  # an attempt never checked does not count as a failure
            assert db.scalar(select(func.count()).select_from(LoginAttempt)) == 0
    finally:
        slots.wait_s = original
        for ok in held:
            if ok:
                slots._slots.release()
