"""Page routes and the plotly asset over plain HTTP (no browser needed)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meterhub.web.page_access import safe_next
from tests.browser.appserver import AppServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AppServer]:
    srv = AppServer(tmp_path)
    yield srv
    srv.ctx.engine.dispose()


@pytest.fixture
def client(server: AppServer) -> Iterator[TestClient]:
    with TestClient(server.build_app(), base_url="http://localhost", follow_redirects=False) as c:
        yield c


def login(client: TestClient, name: str, password: str) -> None:
    res = client.post("/api/auth/login", json={"username": name, "password": password})
    assert res.status_code == 200, res.text


def test_plotly_is_served_compressed_and_cached(client: TestClient) -> None:
    res = client.get("/static/vendor/plotly.min.js?v=1", headers={"accept-encoding": "gzip"})
    assert res.status_code == 200
    assert res.headers["content-encoding"] == "gzip"
    assert "immutable" in res.headers["cache-control"]
    assert res.headers["vary"] == "Accept-Encoding"
    assert b"plotly.js" in res.content[:200]  # httpx decoded it
    assert int(res.headers["content-length"]) < len(res.content) / 2
    etag = res.headers["etag"]
    again = client.get("/static/vendor/plotly.min.js", headers={"if-none-match": etag})
    assert again.status_code == 304
    plain = client.get("/static/vendor/plotly.min.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == gzip.decompress(gzip.compress(plain.content))


def test_plotly_stylesheet_comes_from_the_bundle(client: TestClient) -> None:
    res = client.get("/static/vendor/plotly.css")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/css")
    assert ".js-plotly-plot .plotly .modebar-btn" in res.text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/devices?q=1", "/devices?q=1"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil", "/"),
        ("/login?next=/x", "/"),
        ("javascript:1", "/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_page_redirects_and_refusals(client: TestClient, server: AppServer) -> None:
    res = client.get("/devices/X-1?range=7d")
    assert res.status_code == 303
    assert res.headers["location"] == "/login?next=/devices/X-1%3Frange%3D7d"
    assert client.get("/").headers["location"] == "/login"
    assert client.get("/login").status_code == 200
    user = server.add_user("uma", "uma-pass-1234")
    server.add_device("MINE-1", "Mine", users=[user])
    server.add_device("THEIRS-1", "Theirs")
    login(client, "uma", "uma-pass-1234")
    assert client.get("/login?next=/live").headers["location"] == "/live"
    mine = client.get("/devices/MINE-1")
    assert mine.status_code == 200 and "Mine" in mine.text
    theirs = client.get("/devices/THEIRS-1")
    nowhere = client.get("/devices/NOWHERE-1")
    assert theirs.status_code == nowhere.status_code == 404
    assert theirs.text == nowhere.text  # nothing tells the two apart
    assert client.get("/admin/devices").status_code == 403
    home = client.get("/")
    assert "MINE-1" in home.text and "THEIRS-1" not in home.text
    assert "/users" not in home.text  # no admin links for users
    assert "style=" not in home.text and "<script>" not in home.text  # CSP: nothing inline


def test_pending_password_change_blocks_every_page(client: TestClient, server: AppServer) -> None:
    server.add_user("admin", "first-pass-given-1", role="admin", must_change=True)
    login(client, "admin", "first-pass-given-1")
    for path in ("/", "/devices", "/settings", "/users"):
        res = client.get(path)
        assert res.status_code == 303, path
        assert res.headers["location"] == "/login?change=1"
    page = client.get("/login?change=1")
    assert page.status_code == 200
    assert 'id="change-step"' in page.text


def test_every_template_renders_for_an_admin(client: TestClient, server: AppServer) -> None:
    server.add_user("root", "root-pass-1234", role="admin")
    server.add_device("A-1", "Alpha")
    login(client, "root", "root-pass-1234")
    pages: dict[str, Any] = {
        p: client.get(p)
        for p in (
            "/",
            "/devices",
            "/devices/A-1",
            "/live",
            "/analytics",
            "/users",
            "/admin/devices",
            "/settings",
        )
    }
    for path, res in pages.items():
        assert res.status_code == 200, (path, res.text[:300])
        assert res.headers["cache-control"] == "no-store"
        assert 'href="/admin/devices"' in res.text
        assert "style=" not in res.text, path
