"""Helpers for the API tests: raw clients (own address, scheme), the audit log, cookies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meterhub.context import AppContext
from meterhub.security.sessions import CSRF_COOKIE, SESSION_COOKIE
from meterhub.services import users


@pytest.fixture
def raw_client(app: Any) -> Iterator[Any]:
    """raw_client(ip=..., https=False) -> a TestClient that is not logged in."""
    made: list[TestClient] = []

    def make(ip: str = "127.0.0.1", https: bool = False, **kwargs: Any) -> TestClient:
        client = TestClient(
            app,
            base_url="https://testserver" if https else "http://testserver",
            client=(ip, 50000),
            **kwargs,
        )
        made.append(client)  # no lifespan: see tests/conftest.py Api
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def add_user(ctx: AppContext) -> Any:
    """add_user(name, password, **fields): a user straight in the database (no audit noise)."""

    def add(name: str, password: str | None = None, **fields: Any) -> int:
        with ctx.sessions() as db:
            user = users.create(db, None, name, password or f"{name}-pass-1234", **fields)
            db.commit()
            return user.id

    return add


def login(client: TestClient, username: str, password: str) -> dict[str, Any]:
    """Log `client` in and make it send the CSRF header, like the dashboard."""
    res = client.post("/api/auth/login", json={"username": username, "password": password})
    assert res.status_code == 200, res.text
    client.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    body: dict[str, Any] = res.json()
    return body


def session_cookie(client: TestClient) -> str:
    value = client.cookies.get(SESSION_COOKIE)
    assert value, "no session cookie"
    return str(value)


def with_cookie(client: TestClient, value: str, csrf: str | None = None) -> None:
    """Make `client` present exactly this session cookie (as a stolen/old one would be)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value, domain="testserver.local")
    if csrf is not None:
        client.cookies.set(CSRF_COOKIE, csrf, domain="testserver.local")
        client.headers["X-CSRF-Token"] = csrf


def audit_entries(admin: Any) -> list[dict[str, Any]]:
    res = admin.get("/api/audit", params={"limit": 1000})
    assert res.status_code == 200, res.text
    entries: list[dict[str, Any]] = res.json()
    return entries
