"""Every JSON route of the API declares its response model, so /openapi.json describes each
answer (clients generated from it, schemathesis's schema checks) and FastAPI checks what the
route returns. Routes that answer something else are listed here with the reason."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import Mount

from meterhub.config import load_settings
from meterhub.web.app import build_context, create_app

# path -> why it has no JSON response model
NOT_JSON = {
    "/api/readings/{serial}/export": "CSV download, streamed (documented as text/csv)",
    "/metrics": "Prometheus text format (documented as text/plain)",
    "/ota/{version}/{file_path:path}": "firmware files for meters (bytes)",
    "/docs": "the Swagger UI page (HTML)",
    "/static/vendor/plotly.min.js": "a vendored script",
    "/static/vendor/plotly.css": "a vendored stylesheet",
}
PAGES_MODULE = "meterhub.web.pages"  # the dashboard's HTML pages (or redirects to /login)


def _is_page(route: APIRoute) -> bool:
    return route.endpoint.__module__ == PAGES_MODULE and not route.include_in_schema


def _typed(model: Any) -> bool:
    """A Pydantic model, or a list of one (not `dict[str, Any]`)."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return True
    if typing.get_origin(model) is list:
        return all(_typed(arg) for arg in typing.get_args(model))
    return typing.get_origin(model) in (typing.Union, types.UnionType) and all(
        _typed(arg) for arg in typing.get_args(model)
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data: Path = tmp_path_factory.mktemp("routes")
    cfg = load_settings(
        {"DATABASE_URL": f"sqlite:///{data / 'meterhub.db'}", "METERHUB_DATA_DIR": data}
    )
    ctx = build_context(cfg)
    yield create_app(ctx=ctx)
    ctx.engine.dispose()


def _routes(app: Any) -> list[Any]:
    return [c.original_route for c in iter_route_contexts(app.routes)]


def test_every_json_route_has_a_response_model(app: Any) -> None:
    missing = []
    for route in _routes(app):
        if not isinstance(route, APIRoute):
            assert isinstance(route, (APIWebSocketRoute, Mount)) or route.path == "/openapi.json"
            continue
        if route.status_code == 204 or route.path in NOT_JSON or _is_page(route):
            continue  # no body, not JSON (see NOT_JSON), or an HTML page
        if not _typed(route.response_model):
            missing.append(f"{sorted(route.methods)} {route.path}: {route.response_model}")
    assert not missing, "routes without a typed response model:\n" + "\n".join(missing)


def test_the_allowlist_names_real_routes(app: Any) -> None:
    """A route removed or renamed leaves no stale exemption behind."""
    paths = {getattr(route, "path", None) for route in _routes(app)}
    assert set(NOT_JSON) <= paths


def test_every_documented_success_has_a_schema(app: Any) -> None:
    """In /openapi.json, each 2xx answer of a JSON route names a schema (no bare `{}`)."""
    doc = app.openapi()
    bare = []
    for path, methods in doc["paths"].items():
        if path in NOT_JSON:
            continue  # /metrics: text, its errors JSON (both documented)
        for method, op in methods.items():
            for code, answer in op["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = answer.get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if "application/json" in content and not schema:
                    bare.append(f"{method.upper()} {path} {code}")
                elif schema is not None and schema.get("additionalProperties") is True:
                    bare.append(f"{method.upper()} {path} {code}: a free-form object")
    assert not bare, "\n".join(bare)
