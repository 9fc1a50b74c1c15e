"""LiveHub with fake connections: coalescing, bounds, batching, isolation (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from meterhub.live.hub import LiveHub, iso_utc, reading_message
from tests.live.fakes import RecordingTransport

TS = 1795773600.0


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))


def reading(serial: str, power: float, ts: float = TS) -> dict[str, Any]:
    return reading_message(
        serial,
        ts,
        {
            "voltage": 230.0,
            "current": 1.0,
            "power": power,
            "energy": 1.5,
            "frequency": 50.0,
            "pf": 0.9,
        },
    )


def connect(hub: LiveHub, transport: RecordingTransport, serials: set[str], name: str = "u") -> Any:
    return hub.register(
        transport,
        user_id=1,
        username=name,
        is_admin=False,
        session_id=f"s-{name}",
        serials=serials,
        hello={"type": "hello", "user": name, "devices": sorted(serials)},
    )


async def settle(hub: LiveHub, times: int = 4) -> None:
    await asyncio.sleep(hub.flush_interval * times)


def test_reading_message_shape() -> None:
    msg = reading("S1", 250.5, ts=TS + 0.25)
    assert msg == {
        "type": "reading",
        "serial": "S1",
        "ts": "2026-11-27T10:00:00.250Z",
        "voltage": 230.0,
        "current": 1.0,
        "power": 250.5,
        "energy": 1.5,
        "frequency": 50.0,
        "pf": 0.9,
    }
    assert iso_utc(TS) == "2026-11-27T10:00:00.000Z"


def test_latest_reading_replaces_an_unsent_one() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.01)
        slow = RecordingTransport(blocked=True)
        conn = connect(hub, slow, {"S1", "S2"})
        await settle(hub)  # the hello is now stuck in send_text
        for power in (1.0, 2.0, 3.0):
            hub.publish_reading("S1", reading("S1", power))
        hub.publish_reading("S2", reading("S2", 9.0))
        assert list(conn.outbox) == [("reading", "S1"), ("reading", "S2")]
        assert conn.coalesced == 2 and hub.coalesced == 2 and conn.dropped == 0
        slow.gate.set()
        await settle(hub)
        data = [m for m in slow.messages if m["type"] == "reading"]
        assert [(m["serial"], m["power"]) for m in data] == [("S1", 3.0), ("S2", 9.0)]
        await hub.close_all()

    run(body)


def test_coalescing_keeps_the_order_of_latest_values() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.01)
        slow = RecordingTransport(blocked=True)
        conn = connect(hub, slow, {"S1"})
        await settle(hub)
        hub.publish_reading("S1", reading("S1", 1.0))
        hub.publish_status("S1", False)
        hub.publish_reading("S1", reading("S1", 2.0))  # newer than the status: goes last
        assert list(conn.outbox) == [("status", "S1"), ("reading", "S1")]
        slow.gate.set()
        await settle(hub)
        assert [m["type"] for m in slow.messages] == ["hello", "status", "reading"]
        await hub.close_all()

    run(body)


def test_outbox_is_bounded_and_drops_the_oldest() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.01, outbox_limit=3)
        serials = {f"S{i}" for i in range(6)}
        slow = RecordingTransport(blocked=True)
        conn = connect(hub, slow, serials)
        await settle(hub)
        for i in range(6):
            hub.publish_reading(f"S{i}", reading(f"S{i}", float(i)))
            assert len(conn.outbox) <= 3
        assert [k[1] for k in conn.outbox] == ["S3", "S4", "S5"]
        assert conn.dropped == 3
        assert hub.stats()["messages_dropped"] == 3
        slow.gate.set()
        await settle(hub)
        assert [m["serial"] for m in slow.messages if m["type"] == "reading"] == ["S3", "S4", "S5"]
        await hub.close_all()

    run(body)


def test_one_frame_per_window_holds_a_json_array() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.05)
        t = RecordingTransport()
        connect(hub, t, {f"S{i}" for i in range(50)})
        await asyncio.sleep(0)  # sender starts, sends the hello, sleeps a window
        await asyncio.sleep(0.01)
        for i in range(50):
            hub.publish_reading(f"S{i}", reading(f"S{i}", float(i)))
        await settle(hub, 3)
        assert t.frames[0] == [
            {"type": "hello", "user": "u", "devices": sorted(f"S{i}" for i in range(50))}
        ]
        assert len(t.frames) == 2 and len(t.frames[1]) == 50
        stats = hub.stats()
        assert stats["frames_sent"] == 2 and stats["messages_sent"] == 51
        await hub.close_all()

    run(body)


def test_publish_reaches_only_viewers_of_that_serial() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.01)
        a, b, admin = RecordingTransport(), RecordingTransport(), RecordingTransport()
        connect(hub, a, {"A"}, "alice")
        connect(hub, b, {"B"}, "bob")
        connect(hub, admin, {"A", "B"}, "root")
        assert hub.publish_reading("A", reading("A", 1.0)) == 2
        assert hub.publish_status("B", True) == 2
        assert hub.publish_reading("C", reading("C", 1.0)) == 0  # nobody may see C
        await settle(hub)
        assert {m["serial"] for m in a.messages if m["type"] != "hello"} == {"A"}
        assert {m["serial"] for m in b.messages if m["type"] != "hello"} == {"B"}
        assert {m["serial"] for m in admin.messages if m["type"] != "hello"} == {"A", "B"}
        assert hub.viewers("A") == 2 and hub.viewers("C") == 0
        await hub.close_all()

    run(body)


def test_a_blocked_client_never_delays_another() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.005, outbox_limit=25)
        serials = {f"S{i}" for i in range(20)}
        slow, fast = RecordingTransport(blocked=True), RecordingTransport()
        slow_conn = connect(hub, slow, serials, "slow")
        connect(hub, fast, serials, "fast")
        for rnd in range(50):
            for i in range(20):
                hub.publish_reading(f"S{i}", reading(f"S{i}", float(rnd)))
            await asyncio.sleep(0.002)
        await settle(hub)
        for i in range(20):  # 20 more keys: the slow outbox (20 pending) must drop
            hub.publish_status(f"S{i}", True)
        await settle(hub)
        latest = {m["serial"]: m["power"] for m in fast.messages if m["type"] == "reading"}
        assert latest == {f"S{i}": 49.0 for i in range(20)}
        assert {m["serial"] for m in fast.messages if m["type"] == "status"} == serials
        assert len(slow_conn.outbox) == 25
        assert slow_conn.dropped > 0 and slow_conn.coalesced > 0
        assert slow.frames == []  # still stuck in its first send
        await hub.close_all()
        assert slow.closed is None  # could not even take the close frame; sender cancelled

    run(body)


def test_set_serials_moves_the_index_and_forgets_unsent_messages() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.01)
        t = RecordingTransport(blocked=True)
        conn = connect(hub, t, {"A", "B"})
        await settle(hub)
        hub.publish_reading("A", reading("A", 1.0))
        assert hub.set_serials(conn, {"B", "C"})
        assert ("reading", "A") not in conn.outbox
        assert hub.viewers("A") == 0 and hub.viewers("C") == 1
        assert not hub.set_serials(conn, {"B", "C"})
        hub.publish_reading("A", reading("A", 2.0))
        hub.publish_reading("C", reading("C", 3.0))
        t.gate.set()
        await settle(hub)
        assert [m["serial"] for m in t.messages if m["type"] == "reading"] == ["C"]
        await hub.close_all()

    run(body)


def test_close_request_stops_data_and_sends_the_code() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.01)
        t = RecordingTransport()
        conn = connect(hub, t, {"A"})
        await settle(hub)
        hub.close_connection(conn, 4401, "session ended; log in again")
        assert hub.publish_reading("A", reading("A", 1.0)) == 0
        await settle(hub)
        assert t.closed == (4401, "session ended; log in again")
        assert [m["type"] for m in t.messages] == ["hello"]
        await hub.unregister(conn)
        assert hub.stats()["connections"] == 0

    run(body)


def test_pong_and_control_messages_are_bounded() -> None:
    async def body() -> None:
        hub = LiveHub(flush_interval=0.01)
        t = RecordingTransport(blocked=True)
        conn = connect(hub, t, set())
        for _ in range(100):
            conn.send_control({"type": "pong"})
        assert len(conn.control) <= 8
        await hub.close_all()

    run(body)


def test_stats_keys() -> None:
    assert set(LiveHub().stats()) == {
        "connections",
        "messages_published",
        "messages_sent",
        "frames_sent",
        "messages_coalesced",
        "messages_dropped",
        "outbox_pending",
    }
