"""Notifications through real local receivers: an HTTP server (webhook with its HMAC
signature checked, ntfy), an SMTP server (aiosmtpd), Mosquitto; retries with back-off
after a receiver was down, every attempt recorded, a dead channel not holding up others."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from meterhub.alerts import notifier as notifier_module
from meterhub.alerts.channels import Outbound
from meterhub.alerts.evaluator import Evaluator
from meterhub.alerts.notifier import Notifier
from meterhub.broker.url import BrokerTarget
from meterhub.db.models import AlertAttempt, AlertDelivery
from tests.support import free_port, port_open, require

T0 = 1_790_000_000.0
SECRET = "a-webhook-secret-of-32-characters"


class Receiver:
    """A tiny HTTP server that records every request (and can refuse with a status)."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers.items()), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fast_retries(monkeypatch: Any) -> None:
    monkeypatch.setattr(notifier_module, "RETRY_DELAYS_S", (0.0, 0.0, 0.0))


def raise_alert(ctx: Any, meters: Any, make_rule: Any, owner: int, channels: list[int]) -> None:
    """Open one alert (power over 100 W) that notifies `channels`."""
    meters.add("N-1")
    make_rule(owner, name="Oven", metric="power", threshold=100, channel_ids=channels)
    meters.send("N-1", T0, power=500.0)
    assert len(Evaluator(ctx.sessions, start_ms=0).step().opened) == 1


def deliveries(ctx: Any) -> list[tuple[AlertDelivery, list[AlertAttempt]]]:
    with ctx.sessions() as db:
        rows = list(db.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))
        tries = list(db.scalars(select(AlertAttempt).order_by(AlertAttempt.id)))
        db.expunge_all()
    return [(d, [t for t in tries if t.delivery_id == d.id]) for d in rows]


def test_webhook_body_is_the_alert_and_the_receiver_verifies_the_signature(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, make_channel: Any, receiver: Receiver
) -> None:
    owner = make_owner("boss", "admin")
    hook = make_channel(owner, "webhook", receiver.url("/hook"), SECRET)
    raise_alert(ctx, meters, make_rule, owner, [hook])
    notifier = Notifier(ctx.sessions, Outbound())
    try:
        assert notifier.step() == 1
    finally:
        notifier.close()
    ((path, headers, body),) = receiver.requests
    assert path == "/hook"
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Meterhub-Signature"], f"sha256={expected}")
    wrong = hmac.new(b"another-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Meterhub-Signature"] != f"sha256={wrong}"
    sent = orjson.loads(body)
    assert sent["event"] == "opened"
    assert sent["serial"] == "N-1" and sent["metric"] == "power" and sent["state"] == "active"
    fields = "id rule_id severity value opened_at acknowledged_at resolved_at message"
    assert set(sent) >= set(fields.split())
    ((delivery, tries),) = deliveries(ctx)
    assert delivery.status == "sent" and [t.ok for t in tries] == [True]


def test_email_reaches_a_local_smtp_server(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, make_channel: Any
) -> None:
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    owner = make_owner("boss", "admin")
    mail = make_channel(owner, "email", "ops@example.test")
    raise_alert(ctx, meters, make_rule, owner, [mail])
    notifier = Notifier(
        ctx.sessions,
        Outbound(smtp_url=f"smtp://127.0.0.1:{port}", smtp_from="meterhub@example.test"),
    )
    try:
        notifier.step()
    finally:
        notifier.close()
        controller.stop()
    ((sender, to, content),) = inbox.messages
    assert sender == "meterhub@example.test" and to == ["ops@example.test"]
    text = content.decode()
    assert "Subject: [meterhub] MAJOR opened: Oven: N-1: power 500W > 100W" in text
    assert "serial: N-1" in text


def test_retries_after_the_receiver_was_down_and_a_dead_channel_blocks_nobody(
    ctx: Any,
    meters: Any,
    make_owner: Any,
    make_rule: Any,
    make_channel: Any,
    receiver: Receiver,
    fast_retries: None,
) -> None:
    owner = make_owner("boss", "admin")
    down_port = free_port()
    later = make_channel(owner, "webhook", f"http://127.0.0.1:{down_port}/late", SECRET)
    healthy = make_channel(owner, "ntfy", receiver.url("/meterhub-alerts"))
    raise_alert(ctx, meters, make_rule, owner, [later, healthy])
    notifier = Notifier(ctx.sessions, Outbound())
    try:
        assert notifier.step() == 2
        # the healthy channel got its message in the same round; ntfy's shape
        ((path, headers, body),) = receiver.requests
        assert path == "/meterhub-alerts" and headers["Priority"] == "4"
        assert headers["Title"].startswith("[meterhub] MAJOR opened")
        assert body.decode() == "Oven: N-1: power 500W > 100W"
        failed = {d.channel_id: (d, t) for d, t in deliveries(ctx)}[later]
        assert failed[0].status == "pending" and failed[0].attempts == 1
        assert "ConnectError" in (failed[1][0].error or "")
        notifier.step()  # still down: second attempt logged
        late = Receiver(down_port)  # the receiver comes back
        try:
            notifier.step()
            assert [r[0] for r in late.requests] == ["/late"]
        finally:
            late.close()
        assert notifier.step() == 0  # nothing left
    finally:
        notifier.close()
    result = {d.channel_id: (d.status, [t.ok for t in tries]) for d, tries in deliveries(ctx)}
    assert result == {later: ("sent", [False, False, True]), healthy: ("sent", [True])}


def test_a_delivery_that_never_gets_through_fails_after_the_last_retry(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, make_channel: Any, receiver: Receiver,
    fast_retries: None,
) -> None:  # fmt: skip
    receiver.status = 500
    owner = make_owner("boss", "admin")
    hook = make_channel(owner, "webhook", receiver.url("/x"))
    raise_alert(ctx, meters, make_rule, owner, [hook])
    notifier = Notifier(ctx.sessions, Outbound())
    try:
        for _ in range(6):
            notifier.step()
    finally:
        notifier.close()
    ((delivery, tries),) = deliveries(ctx)
    assert delivery.status == "failed" and len(tries) == 4
    assert delivery.last_error == "SendError: HTTP 500 from 127.0.0.1"


def test_mqtt_channel_publishes_to_mosquitto(
    ctx: Any, meters: Any, make_owner: Any, make_rule: Any, make_channel: Any
) -> None:
    require(port_open(1883), "Mosquitto is not answering on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    topic = f"meterhub/alerts/test-{time.time_ns()}"
    got: list[bytes] = []
    ready = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_connect = lambda c, *a: (c.subscribe(topic, qos=1), None)[1]
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda c, u, msg: got.append(msg.payload)
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    try:
        assert ready.wait(5)
        owner = make_owner("boss", "admin")
        channel = make_channel(owner, "mqtt", topic)
        raise_alert(ctx, meters, make_rule, owner, [channel])
        notifier = Notifier(ctx.sessions, Outbound(broker=BrokerTarget("127.0.0.1", 1883)))
        try:
            notifier.step()
        finally:
            notifier.close()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.loop_stop()
        sub.disconnect()
    (payload,) = got
    assert orjson.loads(payload)["serial"] == "N-1"
