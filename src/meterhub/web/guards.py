"""Request guards in front of every route: the Host allowlist and the request body cap.

Both are pure ASGI middlewares (no buffering) and answer in the API's JSON error shape.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meterhub.services import audit

LOCAL_NAMES = ("localhost",)


def default_hosts() -> frozenset[str]:
    """`localhost` and this machine's names; IP-address literals are always allowed."""
    names = {*LOCAL_NAMES, socket.gethostname()}
    with contextlib.suppress(OSError):  # no resolver: the short name is enough
        names.add(socket.getfqdn())
    return frozenset(n.lower() for n in names if n)


def parse_hosts(value: str | None) -> frozenset[str] | None:
    """ALLOWED_HOSTS as a set of lower-case names; None for `*` (every host allowed)."""
    if value is None or not value.strip():
        return default_hosts()
    names = {n.strip().lower().rstrip(".") for n in value.split(",") if n.strip()}
    return None if "*" in names else frozenset(names)


def host_name(header: str) -> str:
    """The name part of a Host header: no port, no IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str, allowed: frozenset[str] | None) -> bool:
    """True for a listed name, a `*.localhost` name, or an IP-address literal.

    An address literal cannot be rebound by DNS, so LAN access by address keeps working;
    a name an attacker controls (DNS rebinding) is refused."""
    if allowed is None:
        return True
    name = host_name(header).rstrip(".")
    if not name:
        return False
    if name in allowed or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def _json_error(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"error": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class HostGuard:
    """400 for a Host header not on the allowlist (HTTP and WebSocket)."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not host_allowed(
            _header(scope, b"host"), self.allowed
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _json_error(
                send, 400, "unknown Host header; add the name to ALLOWED_HOSTS to serve it"
            )
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """The client sent more than the cap (raised from `receive`; an HTTPException so that
    the framework's body parsing passes it on and the error handler answers 413)."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class BodyLimit:
    """413 for a request body over `limit` bytes, declared or streamed (chunked).

    `exempt` paths enforce their own (larger) limit, such as firmware uploads."""

    def __init__(self, app: ASGIApp, limit: int, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        message = f"request body is larger than {self.limit} bytes"
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.limit:
            await _json_error(send, 413, message)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(message)
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _json_error(send, 413, message)


class ClientAddress:
    """Makes the client address of the request known to the audit log (a context var)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        token = audit.current_client_ip.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            audit.current_client_ip.reset(token)
