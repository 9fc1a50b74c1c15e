"""A client that never reads must not delay another, and its backlog must stay bounded."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from meterhub.live import hub as hub_module
from tests.live.conftest import Inbox, LiveServer, data, open_ws, unique, wait_for

pytestmark = pytest.mark.mosquitto
SERIALS = 40
ROUNDS = 60
LIMIT = 50  # > the 40 reading keys of a window, < 40 readings + 40 statuses


def raw_ws_that_never_reads(live: LiveServer, cookie: str) -> socket.socket:
    """Handshake by hand with a tiny receive buffer, then never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", live.port))
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {live.origin}\r\n"
            f"Cookie: meterhub_session={cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "server closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_slow_client_does_not_delay_a_fast_one(
    start_server: Any, publisher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "OUTBOX_LIMIT", LIMIT)
    live = start_server(sndbuf=4096)  # small kernel buffers: the slow socket fills fast
    serials = [unique("LVS") for _ in range(SERIALS)]
    for serial in serials:
        live.add_device(serial)
    live.add_user(speedy := unique("speedy"), role="admin")
    live.add_user(slowpoke := unique("slowpoke"), role="admin")
    fast_cookie = live.login(speedy).cookie
    slow_sock = raw_ws_that_never_reads(live, live.login(slowpoke).cookie)
    wait_for(lambda: len(live.hub.connections()) == 1, 10, "the slow client to register")
    slow = live.hub.connections()[0]

    async def scenario() -> tuple[Inbox, float]:
        inbox = Inbox(await open_ws(live, fast_cookie))
        await inbox.until(bool)
        for rnd in range(ROUNDS):
            for serial in serials:
                publisher(serial, data(float(rnd), seq=rnd))
            await asyncio.sleep(0)
        published = time.monotonic()
        want = {s: float(ROUNDS - 1) for s in serials}

        def has_latest(messages: list[dict[str, Any]]) -> bool:
            latest = {m["serial"]: m["power"] for m in messages if m["type"] == "reading"}
            return latest == want

        await inbox.until(has_latest, timeout=10)
        lag = time.monotonic() - published
        await inbox.ws.close()
        return inbox, lag

    try:
        inbox, lag = asyncio.run(scenario())
    finally:
        slow_sock.close()
    stats = live.hub.stats()
    fast_frames = sum(1 for _ in inbox.messages)  # messages the fast one received
    assert lag < 10
    assert len(slow.outbox) <= LIMIT
    assert slow.coalesced + slow.dropped > 0, "the slow client was never behind"
    assert slow.sent < fast_frames, "the slow client received as much as the fast one"
    assert stats["messages_coalesced"] >= slow.coalesced
    assert stats["messages_dropped"] >= slow.dropped
    print(
        f"\nfast client: {len(inbox.of('reading'))} readings, latest of all "
        f"{SERIALS} devices {lag * 1000:.0f} ms after the last publish; slow client: "
        f"sent {slow.sent}, coalesced {slow.coalesced}, dropped {slow.dropped}, "
        f"outbox {len(slow.outbox)}/{LIMIT}"
    )
