"""Every error leaves as JSON `{"error": "..."}`; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meterhub.errors import MeterhubError, Throttled

log = logging.getLogger(__name__)
INTERNAL = "internal error; the server log has the details"


class ErrorOut(BaseModel):
    """Every error answer: a message a person can act on, sometimes with more fields
    (`field`, `fields`, `code`, `retry_after`)."""

    model_config = ConfigDict(extra="allow")

    error: str


ERROR_TEXT = {
    400: "Bad request (e.g. a Host header not in ALLOWED_HOSTS)",
    401: "Not logged in, or the session/token expired",
    403: "Not allowed (role, token scope, CSRF, pending password change)",
    404: "Not found, or not visible to you",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Invalid input; `field` names the first bad field",
    429: "Too many requests; see the Retry-After header",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: documents the listed error statuses with the shared
    `{"error": ...}` shape. Use on every route, e.g. `responses=responses(401, 403, 404)`;
    400, 413 and 422 are added for every route by `common_responses`."""
    return {code: {"model": ErrorOut, "description": ERROR_TEXT[code]} for code in codes}


def common_responses() -> dict[int | str, dict[str, Any]]:
    """Statuses any API route can answer (the Host guard, the body cap, validation)."""
    return responses(400, 413, 422)


AUTH_DEPENDENCIES = frozenset(
    {"get_principal_allow_pending", "get_principal", "get_user", "get_admin"}
)


def _needs_auth(dependant: Any) -> bool:
    return any(
        getattr(dep.call, "__name__", "") in AUTH_DEPENDENCIES or _needs_auth(dep)
        for dep in dependant.dependencies
    )


def document_errors(router: APIRouter) -> APIRouter:
    """Add to each route of `router` the error statuses it can answer, inferred from how it
    is built, so that the OpenAPI document lists every status a client may see: 400/413/422
    everywhere, 401/403 behind authentication, 404 with a path parameter, 409 on changes.
    Routes add what only they answer (429, a second 409) with `responses=`. Call before
    `include_router`, which builds the response schemas from these."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        codes = [400, 413, 422]
        if _needs_auth(route.dependant):
            codes += [401, 403]
        if "{" in route.path:
            codes.append(404)
        if (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"} and _needs_auth(
            route.dependant
        ):
            codes.append(409)
        for code in codes:
            route.responses.setdefault(code, responses(code)[code])
    return router


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MeterhubError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
    return JSONResponse({"error": exc.message, **exc.extra}, exc.status_code, headers=headers)


def _describe(error: Any) -> dict[str, str]:
    if error.get("type") == "json_invalid":
        # loc is ("body", <character offset>): the offset is not a field.
        detail = (error.get("ctx") or {}).get("error", "")
        return {"field": "body", "message": f"malformed JSON{': ' + detail if detail else ''}"}
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    return {"field": _field_path(tuple(error.get("loc", ()))), "message": message}


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [_describe(e) for e in exc.errors()]
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    return JSONResponse(
        {
            "error": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "fields": fields,
        },
        422,
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such path: {request.url.path}"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        message = f"method {request.method} is not allowed on {request.url.path}"
    return JSONResponse({"error": message}, exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": INTERNAL}, 500)


class CatchAll:
    """Turns an unhandled exception into a JSON 500 *inside* the app's own middleware.

    Starlette sends the response of an `Exception` handler from its outermost
    ServerErrorMiddleware, past every other middleware, so that 500 would leave without
    the security headers. This middleware sits inside them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for a clean answer; the server closes the connection
                raise
            body = orjson.dumps({"error": INTERNAL})
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


def install(app: FastAPI) -> None:
    """Register the handlers on `app` (call before adding the security-headers middleware,
    so that it wraps the catch-all)."""
    app.add_exception_handler(MeterhubError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(CatchAll)
