"""The MQTT side of ingest: subscribe, hand the raw messages to the writer process
(`handoff`), acknowledge each one after the transaction holding it has committed.

It speaks MQTT 3.1.1 itself (`mqtt_wire`), on an asyncio connection in its own thread,
because the PUBACK of a QoS 1 message must wait for the commit and the client libraries
make that cost as much as storing the message (see `mqtt_wire`). Everything that arrived
in one read is handed over at once; a committed chunk's PUBACKs go out in one write. 3.1.1
is what every broker speaks, the embedded one included.

The session is persistent (fixed client id, clean session off): messages published while
ingest is down are delivered when it returns, and messages whose chunk had not committed
when the process died are redelivered; the readings' primary key makes that harmless.
After a reconnect the acknowledgements of the old connection are void (the broker
redelivers those messages, and packet ids are reused). When MAX_UNCOMMITTED messages wait
for the writer, the receiver stops reading and the broker holds the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable

from meterhub import mqtt_wire
from meterhub.broker.url import BrokerTarget
from meterhub.ingest.handoff import AckKey, Incoming, WriterProcess
from meterhub.mqtt_tls import client_tls_context
from meterhub.protocol.topics import FOREIGN_SUBSCRIPTIONS, shared_filter

log = logging.getLogger(__name__)

CLIENT_ID = "meterhub-ingest"
SUBSCRIPTIONS = [
    ("meter/+/data", 1),
    ("meter/+/status", 1),
    ("meter/+/control/ack", 1),
    *((topic, 1) for topic in FOREIGN_SUBSCRIPTIONS),  # Tasmota and ESPHome devices
]


def subscriptions(group: str | None = None) -> list[tuple[str, int]]:
    """The inbound topic filters, each as ``$share/<group>/...`` when `group` is given
    (several ingest workers split the stream)."""
    if not group:
        return SUBSCRIPTIONS
    return [(shared_filter(group, topic), qos) for topic, qos in SUBSCRIPTIONS]


SUBSCRIBE_ID = 1
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
CONNECT_TIMEOUT_S = 10.0
STABLE_S = 10.0  # a connection that lasted this long resets the back-off
KEEPALIVE_S = 30
RESUME_CHECK_S = 0.02  # while reading is paused for the writer, how often to look again
STOP_TIMEOUT_S = 5.0
TOPIC_MEMO = 20_000  # decoded topics kept (one per device and kind)


class Refused(Exception):
    """The broker answered but refused the connection or the subscriptions."""


class _Link(asyncio.Protocol):
    """One connection to the broker: CONNECT, SUBSCRIBE, then PUBLISHes in and PUBACKs
    and PINGREQs out. `ready` resolves when the subscriptions are confirmed, `closed` when
    the connection ends."""

    def __init__(self, ingest: MqttIngest, generation: int) -> None:
        loop = asyncio.get_running_loop()
        self.ingest = ingest
        self.generation = generation
        self.ready: asyncio.Future[bool] = loop.create_future()  # the session was present
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.problem = ""  # why it ended, when we ended it
        self._reader = mqtt_wire.PacketReader()
        self._session_present = False
        self._heard = time.monotonic()
        self._pinger: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        target = self.ingest.target
        transport.write(
            mqtt_wire.connect_packet(
                self.ingest.client_id, KEEPALIVE_S, False, target.username, target.password
            )
        )
        self._pinger = asyncio.get_running_loop().call_later(KEEPALIVE_S / 2, self._ping)

    def data_received(self, data: bytes) -> None:
        self._heard = time.monotonic()
        publishes: list[mqtt_wire.Publish] = []
        controls: list[mqtt_wire.Control] = []
        try:
            self._reader.feed(data, publishes, controls)
        except mqtt_wire.ProtocolError as exc:
            self._fail(exc)
            return
        for control in controls:
            self._control(control)
        if publishes and self.transport is not None and not self.transport.is_closing():
            self.ingest.received(self, publishes)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if not self.ready.done():
            self.ready.set_exception(
                ConnectionError(f"the broker closed the connection{f' ({exc})' if exc else ''}")
            )
        if not self.closed.done():
            self.closed.set_result(None)

    # -- packets ---------------------------------------------------------------------------
    def _control(self, packet: mqtt_wire.Control) -> None:
        kind, body = packet.kind, packet.body
        if kind == mqtt_wire.CONNACK and len(body) == 2:
            if body[1]:
                reason = mqtt_wire.CONNACK_REFUSALS.get(body[1], f"code {body[1]}")
                self._fail(Refused(f"the broker refused the connection: {reason}"))
                return
            self._session_present = bool(body[0] & 1)
            # Subscribe even when the session is present: Mosquitto before 2.0.12 does
            # not restore a persistent session's $share subscriptions after a restart.
            self.write(mqtt_wire.subscribe_packet(SUBSCRIBE_ID, self.ingest.subscriptions))
        elif kind == mqtt_wire.SUBACK and len(body) >= 2:
            codes = body[2:]
            if any(code >= 0x80 for code in codes) or len(codes) != len(self.ingest.subscriptions):
                self._fail(
                    Refused(f"the broker refused the subscriptions (return codes {list(codes)})")
                )
                return
            if not self.ready.done():
                self.ready.set_result(self._session_present)
        elif kind not in (mqtt_wire.PINGRESP, mqtt_wire.PUBACK):
            self._fail(mqtt_wire.ProtocolError(f"unexpected packet type {kind}"))

    def heard_now(self) -> None:
        self._heard = time.monotonic()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mqtt_wire.DISCONNECT_PACKET)
            self.transport.close()

    def _ping(self) -> None:
        # While reading is paused for the writer (a database outage can last minutes) the
        # broker's answers wait unread in the socket: silence then proves nothing.
        if not self.paused and time.monotonic() - self._heard > KEEPALIVE_S * 1.5:
            self._fail(TimeoutError(f"nothing from the broker for {KEEPALIVE_S * 1.5:.0f} s"))
            return
        self.write(mqtt_wire.PINGREQ_PACKET)
        self._pinger = asyncio.get_running_loop().call_later(KEEPALIVE_S / 2, self._ping)

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        self.problem = str(exc)
        if self.transport is not None:
            self.transport.abort()


class MqttIngest:
    """Connects to the broker and feeds the writer process; the connection lives on an
    asyncio loop in its own thread. `failed` is set if the writer process dies (the caller
    should exit: nothing uncommitted was acknowledged)."""

    def __init__(
        self,
        target: BrokerTarget,
        database_url: str,
        client_id: str = CLIENT_ID,
        shared_group: str | None = None,
    ) -> None:
        self.target = target
        self.client_id = client_id
        self.subscriptions = subscriptions(shared_group)
        self.handoff = WriterProcess(database_url, self._committed)
        self.failed = self.handoff.failed
        self.subscribed = threading.Event()  # set when the broker confirmed the subscriptions
        self.pauses = 0  # times reading stopped because the writer had MAX_UNCOMMITTED
        self._stopping = False
        self._generation = 0  # bumps at every connection; acks of older ones are void
        self._link: _Link | None = None
        self._topics: dict[bytes, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="ingest-mqtt", daemon=True)
        self._main: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer; connect in the background (retrying until the broker answers)."""
        self.handoff.start()
        self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every message received so far is stored and acknowledged."""
        return self.handoff.drain(timeout) and self._call(lambda: None, timeout)

    def stop(self, drain_timeout: float = STOP_TIMEOUT_S) -> None:
        """Store and acknowledge what is in hand (briefly), then disconnect; anything not
        acknowledged by then is redelivered by the broker at the next start."""
        self._stopping = True  # from now on messages are left to the broker
        self.flush(drain_timeout)
        self._call(self._shut, STOP_TIMEOUT_S)
        self._thread.join(STOP_TIMEOUT_S)
        self.handoff.stop()

    # -- on the loop's thread ------------------------------------------------------------------
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._main = self._loop.create_task(self._keep_connected())
        try:
            self._loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def _call(self, fn: Callable[[], None], timeout: float) -> bool:
        """Run `fn` on the loop after everything already scheduled there; False if the loop
        is gone or did not get to it in time."""
        done = threading.Event()

        def run() -> None:
            fn()
            done.set()

        try:
            self._loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop is closed
            return False
        return done.wait(timeout)

    def _shut(self) -> None:
        """Disconnect (the connection loop ends once the socket is closed, its PUBACKs
        written), or stop trying to connect."""
        if self._link is not None:
            self._link.close()
        elif self._main is not None:
            self._main.cancel()

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        delay, last_problem, last_loss = RECONNECT_MIN_S, "", ""
        tls = client_tls_context(self.target.ca_file) if self.target.tls else None
        while not self._stopping:
            self._generation += 1
            try:
                link, session_present = await self._connect(loop, tls, self._generation)
            except (TimeoutError, OSError, Refused, mqtt_wire.ProtocolError) as exc:
                problem = str(exc) or type(exc).__name__
                if problem != last_problem:
                    level = logging.ERROR if isinstance(exc, Refused) else logging.WARNING
                    log.log(
                        level,
                        "ingest cannot use the broker %s (%s); retrying",
                        self.target.display_url,
                        problem,
                    )
                    last_problem = problem
                await asyncio.sleep(_jittered(delay))
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            self._link = link
            self.subscribed.set()
            log.info(
                "ingest connected to %s (session %s)",
                self.target.display_url,
                "resumed" if session_present else "new",
            )
            last_problem, connected_at = "", time.monotonic()
            await link.closed
            self.subscribed.clear()
            self._link = None
            if self._stopping:
                break
            # The same cause again (a too-large packet that the broker keeps redelivering)
            # is logged once, not at every reconnect.
            log.log(
                logging.DEBUG if link.problem and link.problem == last_loss else logging.WARNING,
                "ingest lost the broker %s%s; reconnecting",
                self.target.display_url,
                f" ({link.problem})" if link.problem else "",
            )
            last_loss = link.problem
            if time.monotonic() - connected_at >= STABLE_S and not link.problem:
                delay = RECONNECT_MIN_S  # it was up for a while: try again at once
            else:  # dropped soon after connecting (e.g. a second ingest with our client id),
                # or by us for a protocol problem (a packet over the size limit)
                await asyncio.sleep(_jittered(delay))
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, tls: ssl.SSLContext | None, generation: int
    ) -> tuple[_Link, bool]:
        """A subscribed connection, and whether the broker still had our session."""
        _, link = await asyncio.wait_for(
            loop.create_connection(
                functools.partial(_Link, self, generation),
                self.target.host,
                self.target.port,
                ssl=tls,
            ),
            CONNECT_TIMEOUT_S,
        )
        try:
            return link, await asyncio.wait_for(link.ready, CONNECT_TIMEOUT_S)
        except BaseException:
            if link.transport is not None:
                link.transport.abort()
            raise

    def received(self, link: _Link, publishes: list[mqtt_wire.Publish]) -> None:
        """Hand what one read brought to the writer; pause reading when it is full."""
        if self._stopping:
            return  # left unacknowledged: the broker redelivers it at the next start
        generation, topics = link.generation, self._topics
        incoming: list[Incoming] = []
        for raw_topic, payload, qos, mid in publishes:
            topic = topics.get(raw_topic)
            if topic is None:
                if len(topics) >= TOPIC_MEMO:
                    topics.clear()
                topic = topics[raw_topic] = raw_topic.decode("utf-8", "replace")
            incoming.append((topic, payload, (generation, mid) if qos else None))
        # Not taken (the writer is gone or stopping): left unacknowledged, redelivered.
        self.handoff.put_many(incoming)
        if self.handoff.full and not link.paused and link.transport is not None:
            link.paused = True
            self.pauses += 1
            link.transport.pause_reading()
            self._loop.call_later(RESUME_CHECK_S, self._maybe_resume, link)

    def _maybe_resume(self, link: _Link) -> None:
        if link.closed.done():
            return
        if self.handoff.full and not self.failed.is_set():
            self._loop.call_later(RESUME_CHECK_S, self._maybe_resume, link)
            return
        link.paused = False
        link.heard_now()
        if link.transport is not None:
            link.transport.resume_reading()

    def _acknowledge(self, keys: list[AckKey]) -> None:
        link = self._link
        if link is None:
            return  # the connection is gone: the broker redelivers these
        generation = link.generation
        mids = [key[1] for key in keys if key is not None and key[0] == generation]
        if mids:
            link.write(mqtt_wire.puback_packets(mids))

    # -- the hand-off's commit thread ----------------------------------------------------------
    def _committed(self, keys: list[AckKey]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: too late to acknowledge
            self._loop.call_soon_threadsafe(self._acknowledge, keys)


def _jittered(delay: float) -> float:
    """``delay`` +-20 %: many clients that lost one broker do not all come back at once."""
    return delay * random.uniform(0.8, 1.2)
