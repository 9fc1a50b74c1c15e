"""The live hub: fan-out of readings and statuses to WebSocket connections.

The MQTT feed calls :meth:`LiveHub.publish_reading` / :meth:`LiveHub.publish_status` on the
event loop. Publishing is synchronous and costs O(viewers of that serial, plus connections
seeing more than :data:`INDEX_LIMIT` serials): the message is serialised once and offered to
each viewer's outbox. An outbox coalesces per device (an unsent reading of a serial is
replaced by the newer one: a browser needs the latest value, not every value) and, past
:data:`OUTBOX_LIMIT` entries, drops its oldest entry and counts it. One sender task per
connection writes the outbox as ONE text frame holding a JSON array, then waits
:data:`FLUSH_INTERVAL_S` before the next frame (measured while designing meterhub: one
message per reading to 50 clients took a core; small per-client batches took 6%). A slow
client therefore only makes its own bounded outbox coalesce; it never blocks publish and
never delays other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import orjson

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S: float = 0.025
"""Least time between two frames to one client (the batching window)."""
OUTBOX_LIMIT: int = 1000
"""Most distinct unsent messages a connection keeps; the oldest goes first past this."""
CLOSE_GRACE_S: float = 1.0
"""At shutdown, how long senders get to deliver their close frames before being cancelled."""
CONTROL_LIMIT: Final = 8
"""Most unsent control messages (hello, pong) a connection keeps."""
INDEX_LIMIT: int = 512
"""A connection that may see more serials than this (an admin) is not put in the
``serial -> connections`` index; publish checks its serials instead. The index would cost
about 270 bytes per serial for each such connection (2.7 MiB for 10,000 devices) to save a
set lookup per message per such connection."""

READING_FIELDS: Final = ("voltage", "current", "power", "energy", "frequency", "pf")


class Transport(Protocol):
    """What the hub needs from a WebSocket (Starlette's WebSocket fits)."""

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def iso_utc(ts: float) -> str:
    """Epoch seconds as ISO-8601 UTC with milliseconds and a ``Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def reading_message(serial: str, ts: float, values: dict[str, Any]) -> dict[str, Any]:
    """The ``reading`` message (docs/api.md, WebSocket) from epoch seconds and values."""
    msg: dict[str, Any] = {"type": "reading", "serial": serial, "ts": iso_utc(ts)}
    for key in READING_FIELDS:
        msg[key] = values.get(key)
    return msg


def status_message(serial: str, online: bool) -> dict[str, Any]:
    """The ``status`` message."""
    return {"type": "status", "serial": serial, "online": online}


class LiveConnection:
    """One WebSocket's state in the hub: what it may see, and its bounded outbox."""

    def __init__(
        self,
        hub: LiveHub,
        transport: Transport,
        *,
        user_id: int,
        username: str,
        is_admin: bool,
        session_id: str,
        serials: Iterable[str],
    ) -> None:
        self.hub = hub
        self.transport = transport
        self.user_id = user_id
        self.username = username
        self.is_admin = is_admin
        self.session_id = session_id
        self.serials: frozenset[str] = frozenset(serials)
        self.outbox: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self.control: list[bytes] = []
        self.sent = 0
        self.frames = 0
        self.coalesced = 0
        self.dropped = 0
        self.closing: tuple[int, str] | None = None
        self.closed = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<LiveConnection {self.username} serials={len(self.serials)}>"

    # -- producer side (synchronous, on the loop) --------------------------------------
    def offer(self, key: tuple[str, str], payload: bytes) -> None:
        """Queue `payload` under `key`, replacing an unsent one with the same key."""
        box = self.outbox
        if key in box:
            box[key] = payload
            box.move_to_end(key)  # keep arrival order of the latest values
            self.coalesced += 1
            self.hub.coalesced += 1
        else:
            box[key] = payload
            if len(box) > self.hub.outbox_limit:
                box.popitem(last=False)
                self.dropped += 1
                self.hub.dropped += 1
        self._wake.set()

    def send_control(self, message: dict[str, Any]) -> None:
        """Queue a control message (hello, pong); sent before data, never coalesced."""
        if len(self.control) < CONTROL_LIMIT:
            self.control.append(orjson.dumps(message))
            self._wake.set()

    def request_close(self, code: int, reason: str) -> None:
        """Stop data at once and have the sender close the socket with `code`."""
        if self.closing is None:
            self.closing = (code, reason)
            self.outbox.clear()
            self.control.clear()
            self.hub._unindex(self)
            self._wake.set()

    # -- sender side ---------------------------------------------------------------------
    def _take_frame(self) -> tuple[str, int] | None:
        parts = self.control + list(self.outbox.values())
        if not parts:
            return None
        self.control.clear()
        self.outbox.clear()
        return (b"[" + b",".join(parts) + b"]").decode(), len(parts)

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self.closing is not None:
                    code, reason = self.closing
                    await self.transport.close(code, reason)
                    return
                taken = self._take_frame()
                if taken is not None:
                    frame, count = taken
                    await self.transport.send_text(frame)
                    self.sent += count
                    self.frames += 1
                    self.hub.sent += count
                    self.hub.frames += 1
                await asyncio.sleep(self.hub.flush_interval)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send: the handler cleans up
            log.debug("live: sending to %s failed: %r", self.username, exc)
        finally:
            self.closed = True
            self.hub._unindex(self)


class LiveHub:
    """Registry of live connections and the ``serial -> connections`` index."""

    def __init__(
        self, flush_interval: float | None = None, outbox_limit: int | None = None
    ) -> None:
        self.flush_interval = FLUSH_INTERVAL_S if flush_interval is None else flush_interval
        self.outbox_limit = OUTBOX_LIMIT if outbox_limit is None else outbox_limit
        self._connections: set[LiveConnection] = set()
        self.topic_owners: dict[str, str] = {}
        """Admin-set topic id -> serial (kept by the access refresher): a message belongs
        to its topic's device, as in ingest."""
        self._viewers: dict[str, set[LiveConnection]] = {}
        self._broad: set[LiveConnection] = set()  # not indexed: see INDEX_LIMIT
        self.published = 0
        self.sent = 0
        self.frames = 0
        self.coalesced = 0
        self.dropped = 0

    # -- registry --------------------------------------------------------------------------
    def register(
        self,
        transport: Transport,
        *,
        user_id: int,
        username: str,
        is_admin: bool,
        session_id: str,
        serials: Iterable[str],
        hello: dict[str, Any] | None = None,
    ) -> LiveConnection:
        """Add a connection (its `hello` goes out first) and start its sender task."""
        conn = LiveConnection(
            self,
            transport,
            user_id=user_id,
            username=username,
            is_admin=is_admin,
            session_id=session_id,
            serials=serials,
        )
        if hello is not None:
            conn.send_control(hello)
        self._connections.add(conn)
        self._index(conn)
        conn._task = asyncio.get_running_loop().create_task(
            conn._run(), name=f"live-sender-{username}"
        )
        return conn

    async def unregister(self, conn: LiveConnection) -> None:
        """Forget `conn` and stop its sender (the socket is gone or going)."""
        self._unindex(conn)
        self._connections.discard(conn)
        task = conn._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def set_serials(self, conn: LiveConnection, serials: Iterable[str]) -> bool:
        """Change what `conn` may see; True when it changed."""
        new = frozenset(serials)
        if new == conn.serials or conn.closing is not None or conn not in self._connections:
            return False
        for serial in conn.serials - new:
            conn.outbox.pop(("reading", serial), None)  # never send what it may no longer see
            conn.outbox.pop(("status", serial), None)
        if conn in self._broad or len(new) > INDEX_LIMIT:
            self._unindex(conn)
            conn.serials = new
            self._index(conn)
            return True
        for serial in conn.serials - new:
            self._drop_viewer(serial, conn)
        for serial in new - conn.serials:
            self._viewers.setdefault(serial, set()).add(conn)
        conn.serials = new
        return True

    def close_connection(self, conn: LiveConnection, code: int, reason: str) -> None:
        """Close `conn` with `code` (no more data is sent to it from now on)."""
        conn.request_close(code, reason)

    def connections(self) -> list[LiveConnection]:
        return list(self._connections)

    async def close_all(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Close every connection and stop every sender (at shutdown)."""
        conns = list(self._connections)
        for conn in conns:
            conn.request_close(code, reason)
        tasks = [c._task for c in conns if c._task is not None and not c._task.done()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=CLOSE_GRACE_S)
            for task in pending:
                task.cancel()
        for conn in conns:
            await self.unregister(conn)

    # -- publish (synchronous, O(viewers)) -------------------------------------------------
    def publish_reading(self, serial: str, message: dict[str, Any]) -> int:
        """Offer a reading message to those who may see `serial`; returns how many."""
        return self._publish("reading", serial, message)

    def publish_status(self, serial: str, online: bool) -> int:
        """Offer a status message to those who may see `serial`; returns how many."""
        return self._publish("status", serial, status_message(serial, online))

    def publish_alert(self, serial: str, message: dict[str, Any]) -> int:
        """Offer an alert message (`{"type":"alert", ...}`) to those who may see `serial`:
        the readings' access rule. An unsent older state of the same alert is replaced."""
        return self._publish(f"alert:{message.get('id')}", serial, message)

    def _publish(self, kind: str, serial: str, message: dict[str, Any]) -> int:
        viewers = self._viewers.get(serial, ())
        broad = [c for c in self._broad if serial in c.serials] if self._broad else ()
        if not viewers and not broad:
            return 0
        payload = orjson.dumps(message)  # once, whatever the number of viewers
        key = (kind, serial)
        for conn in viewers:
            conn.offer(key, payload)
        for conn in broad:
            conn.offer(key, payload)
        self.published += 1
        return len(viewers) + len(broad)

    def viewers(self, serial: str) -> int:
        """How many connections may see `serial`."""
        broad = sum(serial in c.serials for c in self._broad) if self._broad else 0
        return len(self._viewers.get(serial, ())) + broad

    def stats(self) -> dict[str, int]:
        """Counters for /metrics (totals since start, except `connections`)."""
        return {
            "connections": len(self._connections),
            "messages_published": self.published,
            "messages_sent": self.sent,
            "frames_sent": self.frames,
            "messages_coalesced": self.coalesced,
            "messages_dropped": self.dropped,
            "outbox_pending": sum(len(c.outbox) for c in self._connections),
        }

    # -- index ---------------------------------------------------------------------------
    def _index(self, conn: LiveConnection) -> None:
        if len(conn.serials) > INDEX_LIMIT:
            self._broad.add(conn)
            return
        for serial in conn.serials:
            self._viewers.setdefault(serial, set()).add(conn)

    def _unindex(self, conn: LiveConnection) -> None:
        if conn in self._broad:
            self._broad.discard(conn)
            return
        for serial in conn.serials:
            self._drop_viewer(serial, conn)

    def _drop_viewer(self, serial: str, conn: LiveConnection) -> None:
        viewers = self._viewers.get(serial)
        if viewers is not None:
            viewers.discard(conn)
            if not viewers:
                del self._viewers[serial]
