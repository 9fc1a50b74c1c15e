"""A small, bounded, schemathesis-like pass: every operation in /openapi.json, called as an
admin with hostile values in each path parameter, query parameter and body field, must
answer without a 500 (and with JSON errors). Deterministic; a few thousand requests."""

from __future__ import annotations

import re
from typing import Any

from meterhub.security.sessions import CSRF_COOKIE

HOSTILE: list[Any] = [None, -1, 2**70, "x" * 3000, "a\u0000b", []]
PATH_VALUES = [str(2**70), "abc", "%00"]
SKIP = {("POST", "/api/auth/logout"), ("POST", "/api/auth/password")}  # would end the session
# Known failures in routes outside this suite's owner's files; fix, then delete the entry.
KNOWN: dict[tuple[str, str], str] = {}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                ops.append((method.upper(), path, op))
    return ops


def _body_fields(spec: dict[str, Any], op: dict[str, Any]) -> list[str]:
    schema = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    )
    ref = schema.get("$ref", "")
    if ref:
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return list(schema.get("properties", {}))


def test_hostile_inputs_never_cause_a_500(admin_api: Any, make_user: Any) -> None:
    target = make_user("target")
    device = admin_api.post("/api/devices", json={"serial_number": "FUZZ-1"}).json()
    ids = {"user_id": target.user["id"], "device_id": device["id"], "token_id": 1}
    spec = admin_api.get("/openapi.json").json()
    failures: list[str] = []
    sent = 0

    def check(method: str, url: str, **kwargs: Any) -> None:
        nonlocal sent
        sent += 1
        res = admin_api.request(method, url, **kwargs)
        if res.status_code >= 500 or (res.status_code >= 400 and "error" not in res.json()):
            failures.append(
                f"{method} {url} {str(kwargs)[:80]} -> {res.status_code} {res.text[:120]}"
            )

    for method, path, op in _operations(spec):
        if (method, path) in SKIP or (method, path) in KNOWN or path == "/api/auth/login":
            continue
        names = re.findall(r"\{([^}]+)\}", path)
        good = {n: str(ids.get(n, "FUZZ-1")) for n in names}
        for name in names:
            for value in PATH_VALUES:
                check(method, path.format(**(good | {name: value})))
        url = path.format(**good)
        for param in op.get("parameters", []):
            if param["in"] == "query":
                for value in HOSTILE:
                    if value is not None and not isinstance(value, (list, dict)):
                        check(method, url, params={param["name"]: str(value)})
        for field in _body_fields(spec, op):
            for value in HOSTILE:
                check(method, url, json={field: value})
    # Login gets the same treatment without a session in the way.
    for field in ("username", "password"):
        for value in HOSTILE:
            body = {"username": "target", "password": "wrong-password"} | {field: value}
            check("POST", "/api/auth/login", json=body)
    assert not failures, "\n".join(failures[:20])
    assert sent > 200
    assert admin_api.client.cookies.get(CSRF_COOKIE)  # still logged in at the end
