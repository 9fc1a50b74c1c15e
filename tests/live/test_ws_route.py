"""The /ws route's pure parts and its behaviour without a running hub (TestClient)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from meterhub.live.ws import origin_allowed
from meterhub.live.ws import router as live_router


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (None, "meters.example", True),  # not a browser: the cookie still decides
        ("https://meters.example", "meters.example", True),
        ("http://meters.example", "meters.example", True),
        ("HTTPS://Meters.Example", "meters.example", True),
        ("http://meters.example:3000", "meters.example:3000", True),
        ("https://meters.example:3000", "meters.example:3000", True),
        ("https://meters.example:443", "meters.example", True),
        ("http://meters.example", "meters.example:80", True),
        ("http://[::1]:3000", "[::1]:3000", True),
        ("https://meters.example", "meters.example:3000", False),
        ("http://meters.example:3001", "meters.example:3000", False),
        ("https://evil.example", "meters.example", False),
        ("https://meters.example.evil.example", "meters.example", False),
        ("null", "meters.example", False),
        ("file://", "meters.example", False),
        ("https://meters.example/path", "meters.example", False),
        ("ws://meters.example", "meters.example", False),
        ("https://meters.example", None, False),
        ("https://meters.example:99999", "meters.example", False),
    ],
)
def test_origin_rule(origin: str | None, host: str | None, ok: bool) -> None:
    assert origin_allowed(origin, host) is ok


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_without_a_hub_the_route_authenticates_then_says_try_again(
    app: Any, make_user: Any, make_api: Any
) -> None:
    """What the access-matrix test sees: create_app(ctx=ctx) runs no live hooks."""
    app.include_router(live_router)
    anonymous = make_api()
    with (
        anonymous.client.websocket_connect("/ws") as ws,
        pytest.raises(WebSocketDisconnect) as refused,
    ):
        ws.receive_text()
    assert refused.value.code == 4401
    user = make_user("wsuser")
    with user.client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == [{"type": "hello", "user": "wsuser", "devices": []}]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1013
