"""/ws end to end: uvicorn + real WebSocket clients + real MQTT publishes to Mosquitto.

Every test uses its own serials (and so its own topics), so parallel runs and other
suites on the same broker do not disturb it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.live.conftest import Inbox, LiveServer, data, has, open_ws, unique, wait_for

pytestmark = pytest.mark.mosquitto


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def closed_with(ws: Any, timeout: float = 10) -> tuple[int | None, str | None]:
    """Read until the server closes; the close code and reason."""

    async def drain() -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass

    await asyncio.wait_for(drain(), timeout)
    return ws.close_code, ws.close_reason


def setup_two_users(live: LiveServer) -> dict[str, Any]:
    a, b, p = unique("LVA"), unique("LVB"), unique("LVP")
    ids = {s: live.add_device(s) for s in (a, b)}
    ids[p] = live.add_device(p, pending=True)
    alice, bob = live.add_user(unique("alice")), live.add_user(unique("bob"))
    live.add_user(root := unique("root"), role="admin")
    live.assign(ids[a], alice)
    live.assign(ids[p], alice)  # pending: admins only, even when assigned
    live.assign(ids[b], bob)
    names = {}
    with live.ctx.sessions() as db:
        from meterhub.db.models import User

        for uid in (alice, bob):
            user = db.get(User, uid)
            assert user is not None
            names[uid] = user.username
    return {
        "a": a,
        "b": b,
        "p": p,
        "ids": ids,
        "alice": names[alice],
        "bob": names[bob],
        "alice_id": alice,
        "bob_id": bob,
        "root": root,
    }


def test_each_user_sees_only_their_devices_admin_sees_all(
    start_server: Any, publisher: Any
) -> None:
    live = start_server()
    s = setup_two_users(live)
    a, b, p = s["a"], s["b"], s["p"]
    cookies = {who: live.login(s[who]).cookie for who in ("alice", "bob", "root")}

    async def scenario() -> dict[str, Inbox]:
        inboxes = {who: Inbox(await open_ws(live, cookie)) for who, cookie in cookies.items()}
        for inbox in inboxes.values():
            await inbox.until(lambda m: bool(m) and m[0]["type"] == "hello")
        assert inboxes["alice"].messages[0]["devices"] == [a]
        assert inboxes["bob"].messages[0]["devices"] == [b]
        assert set(inboxes["root"].messages[0]["devices"]) >= {a, b, p}
        for power in (100.0, 200.0):
            for serial in (p, a, b):
                publisher(serial, data(power))
        # The statuses come last: once they arrive, nothing published earlier is in flight.
        publisher(p, "offline", kind="status")
        publisher(a, "offline", kind="status")
        publisher(b, {"state": "offline", "rssi": -60}, kind="status")
        await inboxes["alice"].until(has("status", a, online=False))
        await inboxes["bob"].until(has("status", b, online=False))
        await inboxes["root"].until(
            lambda m: all(has("status", x, online=False)(m) for x in (a, b, p))
        )
        for inbox in inboxes.values():
            await inbox.ws.close()
        return inboxes

    inboxes = run(scenario())
    seen = {
        who: {m["serial"] for m in box.messages if m["type"] != "hello"}
        for who, box in inboxes.items()
    }
    assert seen == {"alice": {a}, "bob": {b}, "root": {a, b, p}}
    alice = inboxes["alice"]
    # "online" at the first reading may be coalesced away: the latest status wins
    assert alice.of("status")[-1] == {"type": "status", "serial": a, "online": False}
    assert inboxes["bob"].of("status")[-1] == {"type": "status", "serial": b, "online": False}
    assert alice.of("reading")[-1]["power"] == 200.0
    reading = alice.of("reading")[-1]
    assert set(reading) == {
        "type",
        "serial",
        "ts",
        "voltage",
        "current",
        "power",
        "energy",
        "frequency",
        "pf",
    }
    assert reading["ts"].endswith("Z") and reading["voltage"] == 230.0


def test_refusals_no_cookie_bad_cookie_wrong_origin_password_change(start_server: Any) -> None:
    live = start_server(mqtt=False)
    live.add_user(name := unique("carol"))
    live.add_user(forced := unique("dave"), must_change=True)
    cookie = live.login(name).cookie
    forced_cookie = live.login(forced).cookie

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        cases = {
            "none": (None, "same"),
            "bad": ("not-a-session", "same"),
            "evil": (cookie, "https://evil.example"),
            "null": (cookie, "null"),
            "port": (cookie, f"http://127.0.0.1:{live.port + 1}"),
            "forced": (forced_cookie, "same"),
        }
        for case, (c, origin) in cases.items():
            ws = await open_ws(live, c, origin)
            out[case] = await closed_with(ws)
        accepted: dict[str, str | None] = {
            "same": "same",
            "absent": None,
            "https": f"https://127.0.0.1:{live.port}",
        }
        for case, allowed in accepted.items():
            ws = await open_ws(live, cookie, allowed)
            out[case] = Inbox(ws)
            await out[case].until(lambda m: bool(m))
            await ws.send('{"type":"ping"}')
            await out[case].until(lambda m: any(x["type"] == "pong" for x in m))
            await ws.close()
        ws = await open_ws(live, cookie)
        await ws.send("x" * 5000)
        out["big"] = await closed_with(ws)
        return out

    out = run(scenario())
    assert out["none"] == (4401, "not logged in")
    assert out["bad"][0] == 4401
    assert out["evil"] == (4403, "origin not allowed")
    assert out["null"][0] == 4403 and out["port"][0] == 4403
    assert out["forced"] == (4403, "password change required")
    assert out["same"].messages[0] == {"type": "hello", "user": name, "devices": []}
    assert out["absent"].messages[0]["type"] == "hello"  # no Origin: not a browser
    assert out["https"].messages[0]["type"] == "hello"  # TLS ended at a proxy
    assert out["big"] == (1009, "message too big")


def test_logout_and_disabling_close_the_socket(start_server: Any) -> None:
    live = start_server(mqtt=False)
    live.add_user(root := unique("root"), role="admin")
    erin_id = live.add_user(erin := unique("erin"))
    live.add_user(fred := unique("fred"))
    admin = live.login(root)
    erin_browser = live.login(erin)
    fred_browser = live.login(fred)

    async def scenario() -> dict[str, Any]:
        erin_ws = await open_ws(live, erin_browser.cookie)
        fred_ws = await open_ws(live, fred_browser.cookie)
        await Inbox(erin_ws).until(bool)
        await Inbox(fred_ws).until(bool)
        started = time.monotonic()
        res = await asyncio.to_thread(fred_browser.post, "/api/auth/logout")
        assert res.status_code == 204, res.text
        fred_closed = await closed_with(fred_ws)
        fred_after = time.monotonic() - started
        started = time.monotonic()
        res = await asyncio.to_thread(admin.put, f"/api/users/{erin_id}", json={"disabled": True})
        assert res.status_code == 200, res.text
        erin_closed = await closed_with(erin_ws)
        return {
            "fred": fred_closed,
            "erin": erin_closed,
            "fred_s": fred_after,
            "erin_s": time.monotonic() - started,
        }

    out = run(scenario())
    assert out["fred"] == (4401, "session ended; log in again")
    assert out["erin"] == (4401, "session ended; log in again")
    assert out["fred_s"] < 10 and out["erin_s"] < 10  # generous: the refresh is 0.2 s here
    assert live.hub.stats()["connections"] == 0 or wait_for(
        lambda: live.hub.stats()["connections"] == 0, 5, "connections to be forgotten"
    )


def test_assignment_changes_take_effect_after_a_refresh(start_server: Any, publisher: Any) -> None:
    live = start_server()
    a, b = unique("LVA"), unique("LVB")
    ida, idb = live.add_device(a), live.add_device(b)
    live.add_user(root := unique("root"), role="admin")
    gina_id = live.add_user(gina := unique("gina"))
    live.assign(ida, gina_id)
    admin = live.login(root)
    cookie = live.login(gina).cookie

    async def scenario() -> Inbox:
        inbox = Inbox(await open_ws(live, cookie))
        await inbox.until(bool)
        assert inbox.messages[0]["devices"] == [a]
        res = await asyncio.to_thread(
            admin.post, f"/api/devices/{idb}/assign", json={"user_id": gina_id}
        )
        assert res.status_code == 200, res.text
        res = await asyncio.to_thread(admin.delete, f"/api/devices/{ida}/assign/{gina_id}")
        assert res.status_code in (200, 204), res.text
        await asyncio.to_thread(
            wait_for,
            lambda: any(c.serials == {b} for c in live.hub.connections()),
            10,
            "the refresh",
        )
        publisher(a, data(1.0))
        publisher(b, data(2.0))
        await inbox.until(has("reading", b, power=2.0))
        await inbox.ws.close()
        return inbox

    inbox = run(scenario())
    assert {m["serial"] for m in inbox.messages if m["type"] != "hello"} == {b}


def test_a_session_may_hold_only_so_many_sockets(start_server: Any) -> None:
    """WS_PER_SESSION (8): a script opening sockets without end is refused with 1008; a
    socket that closes frees its place."""
    live = start_server(mqtt=False)
    live.add_user(name := unique("erin"))
    cookie = live.login(name).cookie
    limit = live.ctx.settings.WS_PER_SESSION

    async def scenario() -> tuple[Any, Any]:
        held = []
        for _ in range(limit):
            ws = await open_ws(live, cookie)
            inbox = Inbox(ws)
            await inbox.until(lambda m: bool(m))
            held.append(ws)
        refused = await closed_with(await open_ws(live, cookie))
        await held[0].close()
        await asyncio.sleep(0.3)
        again = Inbox(await open_ws(live, cookie))
        await again.until(lambda m: bool(m))
        for ws in held[1:]:
            await ws.close()
        return refused, again.messages[0]

    refused, hello = run(scenario())
    assert refused == (1008, "too many live connections for this session")
    assert hello["type"] == "hello"
