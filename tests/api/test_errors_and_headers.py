"""Errors are JSON everywhere (never a stack trace); security headers on every response;
/healthz, /docs and /openapi.json."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from meterhub.api import errors
from meterhub.context import AppContext
from meterhub.db.engine import make_engine
from meterhub.web.headers import SecurityHeaders

SECRET_DETAIL = "boom at /srv/secret/path.py line 42"


def assert_security_headers(res: Any) -> None:
    csp = res.headers.get("content-security-policy", "")
    directives = {}
    for directive in filter(None, (d.strip() for d in csp.split(";"))):
        name, _, value = directive.partition(" ")
        directives[name] = value
    assert "'unsafe-inline'" not in directives.get("script-src", "unset"), csp
    assert "'unsafe-eval'" not in directives.get("script-src", "unset"), csp
    assert directives.get("frame-ancestors") == "'none'", csp
    assert directives.get("object-src") == "'none'", csp
    assert res.headers.get("x-content-type-options") == "nosniff"
    assert res.headers.get("referrer-policy") == "strict-origin-when-cross-origin"
    assert res.headers.get("x-frame-options") == "DENY"


def assert_no_trace(res: Any) -> None:
    for leak in ("Traceback", 'File "', SECRET_DETAIL, "RuntimeError", "sqlalchemy"):
        assert leak not in res.text, res.text


def test_unknown_path_and_wrong_method(raw_client: Any) -> None:
    client = raw_client()
    res = client.get("/api/nothing-here")
    assert res.status_code == 404 and res.json() == {"error": "no such path: /api/nothing-here"}
    assert_security_headers(res)
    res = client.patch("/api/devices")
    assert res.status_code == 405 and "PATCH" in res.json()["error"]
    assert "GET" in res.headers["allow"]
    assert_security_headers(res)


def test_bad_bodies_name_the_field(admin_api: Any) -> None:
    res = admin_api.post(
        "/api/devices", content=b'{"serial_number": ', headers={"content-type": "application/json"}
    )
    assert res.status_code == 422, res.text
    assert res.json()["field"] == "body" and "malformed JSON" in res.json()["error"]
    assert_security_headers(res)
    for body, field in [
        ([1, 2], "body"),
        ({"serial_number": 12}, "serial_number"),
        ({"serial_number": "S", "name": ["x"]}, "name"),
        ({}, "serial_number"),
    ]:
        res = admin_api.post("/api/devices", json=body)
        assert res.status_code == 422, (body, res.text)
        assert res.json()["field"] == field, res.text
        assert res.json()["error"].startswith(field)
        assert all({"field", "message"} <= set(f) for f in res.json()["fields"])
    res = admin_api.get("/api/audit", params={"limit": "many"})
    assert res.status_code == 422 and res.json()["field"] == "query.limit"
    res = admin_api.get("/api/devices/abc")
    assert res.status_code == 422 and res.json()["field"] == "path.device_id"


def test_internal_error_is_json_without_a_trace(admin_api: Any, app: Any, monkeypatch: Any) -> None:
    from meterhub.services import devices

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(SECRET_DETAIL)

    monkeypatch.setattr(devices, "list_visible", explode)
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies = admin_api.client.cookies
    res = client.get("/api/devices")
    assert res.status_code == 500
    assert res.json() == {"error": "internal error; the server log has the details"}
    assert_no_trace(res)
    assert_security_headers(res)


def test_internal_error_in_a_tiny_app() -> None:
    app = FastAPI()
    errors.install(app)
    app.add_middleware(SecurityHeaders)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(SECRET_DETAIL)

    @app.get("/boom-async")
    async def boom_async() -> None:
        raise KeyError(SECRET_DETAIL)

    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/boom", "/boom-async"):
            res = client.get(path)
            assert res.status_code == 500 and "error" in res.json()
            assert res.headers["content-type"] == "application/json"
            assert_no_trace(res)
            assert_security_headers(res)


def test_security_headers_everywhere(admin_api: Any, raw_client: Any) -> None:
    client = raw_client()
    responses = [
        client.get("/healthz"),
        client.get("/openapi.json"),
        client.get("/docs"),
        client.get("/static/js/swagger-init.js"),
        client.get("/static/img/logo.svg"),
        client.get("/static/swagger/swagger-ui-bundle.js"),
        client.get("/static/nope.js"),
        client.get("/api/auth/me"),
        client.post("/api/auth/login", json={}),
        admin_api.get("/api/devices"),
        admin_api.post("/api/devices", json={}),
    ]
    for res in responses:
        assert_security_headers(res)
    assert [r.status_code for r in responses] == [
        200,
        200,
        200,
        200,
        200,
        200,
        404,
        401,
        422,
        200,
        422,
    ]
    assert "strict-transport-security" not in responses[0].headers  # http: no HSTS


def test_healthz(raw_client: Any) -> None:
    res = raw_client().get("/healthz")
    assert res.status_code == 200 and res.json()["status"] == "ok"


def test_healthz_database_gone(
    raw_client: Any, ctx: AppContext, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db_url.startswith("sqlite"):
        (tmp_path / "not-a-dir").write_text("")
        broken = create_engine(f"sqlite:///{tmp_path / 'not-a-dir' / 'x.db'}")
    else:
        broken = make_engine(
            make_url(db_url)
            .set(database="meterhub_no_such_db")
            .render_as_string(hide_password=False)
        )
    monkeypatch.setattr(ctx, "engine", broken)
    res = raw_client().get("/healthz")
    broken.dispose()
    assert res.status_code == 503
    assert res.json()["status"] == "error" and "database unreachable" in res.json()["error"]
    assert_no_trace(res)


def test_docs_are_self_hosted(raw_client: Any) -> None:
    client = raw_client()
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page.text))  # no CDN
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)  # no inline script
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        res = client.get(asset)
        assert res.status_code == 200 and len(res.content) > 50, asset
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/api/auth/login", "/api/users", "/api/devices/{device_id}", "/healthz"):
        assert path in paths
