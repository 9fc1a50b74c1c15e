"""``/ws``: the live feed for browsers (docs/api.md, "WebSocket /ws").

Refusals are sent AFTER accepting, as a close frame with a code and a reason, because a
browser cannot see why a handshake was refused (it only gets code 1006):

* 4403 ``origin not allowed``: an ``Origin`` header that is not this server's own origin
  (``http://`` or ``https://`` plus the request's ``Host``; the scheme is not compared
  because TLS may end at a reverse proxy). Browsers always send ``Origin`` on WebSocket
  handshakes, so a request without one is a script or a CLI: allowed, it still needs a
  valid session cookie (cross-site WebSocket hijacking needs a browser, which sends it).
* 4401 ``not logged in`` / ``session expired or ended``: no cookie or a dead session;
  also sent later, within REFRESH_INTERVAL_S, when the session ends (logout, password
  change, user disabled or deleted).
* 4403 ``password change required``.
* 1009 for a client message over MAX_CLIENT_MESSAGE bytes; 1008 for more than
  CLIENT_BURST messages without CLIENT_RATE_PER_S to pay for them.
* 1008 ``too many live connections for this session`` past WS_PER_SESSION sockets.
* 1013 when the live hub is not running (the app was built without the live hooks).

After accepting, the server sends ``{"type":"hello","user":..,"devices":[serials]}``, then
frames that are JSON arrays of ``reading``/``status`` messages. The only client message
understood is ``{"type":"ping"}`` (answered ``{"type":"pong"}``); others are ignored.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from meterhub.context import AppContext
from meterhub.errors import NotAuthenticated
from meterhub.live.access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, Grant, grant_for_cookie
from meterhub.live.hub import LiveConnection, LiveHub
from meterhub.security.sessions import session_cookie

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

MAX_CLIENT_MESSAGE: Final = 4096
CLIENT_RATE_PER_S: Final = 5.0
CLIENT_BURST: Final = 30.0
CLOSE_TOO_BIG: Final = 1009
CLOSE_POLICY: Final = 1008
CLOSE_TRY_AGAIN: Final = 1013
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Open sockets per session in this process (WS_PER_SESSION caps them: one browser tab needs
# one; a script opening thousands would hold memory and a share of every broadcast).
_per_session: dict[str, int] = {}


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """True when `origin` is absent (not a browser) or names the server's own host."""
    if origin is None:
        return True
    if not host:
        return False
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        own = urlsplit(f"//{host.strip().lower()}")
        own_port = own.port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or parts.path or not parts.hostname:
        return False
    if parts.hostname != own.hostname:
        return False
    # A Host without a port means the default port of the scheme the client used.
    if own_port is None:
        return port == _DEFAULT_PORTS[parts.scheme]
    return own_port == port


def live_hub(ctx: AppContext) -> LiveHub | None:
    return ctx.live_hub


@router.websocket("/ws")
async def live_socket(websocket: WebSocket) -> None:
    """Live readings and statuses of the devices the session's user may see."""
    ctx: AppContext = websocket.app.state.ctx
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host")):
        await _refuse(websocket, CLOSE_FORBIDDEN, "origin not allowed")
        return
    raw = session_cookie(websocket)
    if not raw:
        await _refuse(websocket, CLOSE_UNAUTHENTICATED, "not logged in")
        return
    try:
        grant = await anyio.to_thread.run_sync(grant_for_cookie, ctx.sessions, raw, ctx.secret)
    except NotAuthenticated as exc:
        await _refuse(websocket, CLOSE_UNAUTHENTICATED, exc.message)
        return
    if grant.must_change_password:
        await _refuse(websocket, CLOSE_FORBIDDEN, "password change required")
        return
    hello = {"type": "hello", "user": grant.username, "devices": sorted(grant.serials)}
    hub = live_hub(ctx)
    if hub is None:
        await websocket.accept()
        await websocket.send_text(orjson.dumps([hello]).decode())
        await websocket.close(CLOSE_TRY_AGAIN, "live feed not running; try again later")
        return
    open_now = _per_session.get(grant.session_id, 0)
    if open_now >= ctx.settings.WS_PER_SESSION:
        await _refuse(websocket, CLOSE_POLICY, "too many live connections for this session")
        return
    _per_session[grant.session_id] = open_now + 1
    try:
        await _serve(websocket, hub, grant, hello)
    finally:
        left = _per_session.get(grant.session_id, 1) - 1
        if left > 0:
            _per_session[grant.session_id] = left
        else:
            _per_session.pop(grant.session_id, None)


async def _serve(websocket: WebSocket, hub: LiveHub, grant: Grant, hello: dict[str, Any]) -> None:
    await websocket.accept()
    conn = hub.register(
        websocket,
        user_id=grant.user_id,
        username=grant.username,
        is_admin=grant.is_admin,
        session_id=grant.session_id,
        serials=grant.serials,
        hello=hello,
    )
    try:
        await _receive_loop(websocket, conn, grant)
    finally:
        await hub.unregister(conn)


async def _receive_loop(websocket: WebSocket, conn: LiveConnection, grant: Grant) -> None:
    tokens = CLIENT_BURST
    last = time.monotonic()
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        if conn.closing is not None:
            continue  # waiting for the client to answer our close frame
        now = time.monotonic()
        tokens = min(CLIENT_BURST, tokens + (now - last) * CLIENT_RATE_PER_S)
        last = now
        tokens -= 1
        if tokens < 0:
            conn.request_close(CLOSE_POLICY, "too many messages")
            continue
        data: Any = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > MAX_CLIENT_MESSAGE or (
            isinstance(data, str) and len(data.encode()) > MAX_CLIENT_MESSAGE
        ):
            log.info("live: %s sent a %d-character message; closing", grant.username, len(data))
            conn.request_close(CLOSE_TOO_BIG, "message too big")
            continue
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and parsed.get("type") == "ping":
            conn.send_control({"type": "pong"})


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    await websocket.accept()
    await websocket.close(code, reason)
