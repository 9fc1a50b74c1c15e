"""Ingest's own MQTT connection against a real Mosquitto: it survives a broker restart in
the middle of a stream, keeps an idle connection alive with pings, stops reading while
its writer is full (and loses nothing by it), and says clearly when the broker refuses its
credentials, then keeps trying."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meterhub.broker.url import BrokerTarget, parse_broker_url
from meterhub.ingest import handoff
from meterhub.ingest import receiver as ingest_module
from meterhub.ingest.receiver import MqttIngest
from tests.support import Mosquitto, wait_for

from .conftest import Publisher, contiguous, counter, seqs


def started(mosquitto: Mosquitto, ctx: Any, client_id: str | None = None) -> MqttIngest:
    """An in-process receiver (its writer a child process) subscribed to `mosquitto`."""
    running = MqttIngest(
        parse_broker_url(mosquitto.url),
        ctx.settings.database_url,
        client_id or f"test-link-{uuid.uuid4().hex[:8]}",
    )
    running.start()
    assert running.subscribed.wait(20), "ingest did not subscribe"
    return running


@pytest.fixture
def receiver(mosquitto: Mosquitto, ctx: Any) -> Iterator[MqttIngest]:
    running = started(mosquitto, ctx)
    yield running
    running.stop()
    assert not running.failed.is_set()


def stream(mosquitto: Mosquitto, ctx: Any, count: int, rate: float) -> tuple[Publisher, str]:
    serial = f"LINK-{uuid.uuid4().hex[:8].upper()}"
    publisher = Publisher(mosquitto.port, serial, count, rate)
    publisher.start()
    return publisher, serial


def all_stored(ctx: Any, serial: str, count: int, timeout: float = 40) -> None:
    wait_for(
        lambda: len(seqs(ctx, serial)) >= count,
        timeout,
        f"only {len(seqs(ctx, serial))} of {count} stored",
    )
    values = seqs(ctx, serial)
    assert len(values) == count and contiguous(values)


def test_broker_restart_mid_stream_loses_nothing(
    mosquitto: Mosquitto, receiver: MqttIngest, ctx: Any
) -> None:
    count = 3000
    publisher, serial = stream(mosquitto, ctx, count, 1000)
    try:
        wait_for(lambda: len(seqs(ctx, serial)) >= 500, 30, "nothing stored", step=0.02)
        mosquitto.stop()  # its persistent store keeps the session and queued messages
        wait_for(lambda: not receiver.subscribed.is_set(), 10, "the loss went unnoticed")
        time.sleep(1.0)
        mosquitto.start()
        assert receiver.subscribed.wait(20), "ingest did not reconnect"
        publisher.join(60)
        wait_for(lambda: publisher.acked >= count, 30, "the broker did not take them all")
        all_stored(ctx, serial, count)
    finally:
        publisher.close()


def test_a_clean_stop_acknowledges_everything_stored(mosquitto: Mosquitto, ctx: Any) -> None:
    """Stopped while messages are in hand: what it stored was acknowledged before the
    disconnect (else the broker would redeliver it to the next session and the store would
    count a duplicate); what it had not taken is delivered to the next session."""
    client_id, count = f"test-stop-{uuid.uuid4().hex[:8]}", 3000
    first = started(mosquitto, ctx, client_id)
    publisher, serial = stream(mosquitto, ctx, count, 20_000)
    wait_for(lambda: len(seqs(ctx, serial)) >= 200, 30, "nothing stored", step=0.01)
    first.stop()
    publisher.join(30)
    publisher.close()
    second = started(mosquitto, ctx, client_id)
    try:
        all_stored(ctx, serial, count)
    finally:
        second.stop()
    assert counter(ctx, "readings_duplicate") == 0


def test_idle_connection_is_kept_alive_by_pings(
    mosquitto: Mosquitto, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "KEEPALIVE_S", 2)  # Mosquitto drops it after 3 s
    running = started(mosquitto, ctx)
    try:
        connections = running._generation
        time.sleep(7)
        assert running.subscribed.is_set() and running._generation == connections
        publisher, serial = stream(mosquitto, ctx, 5, 100)
        publisher.join(10)
        publisher.close()
        all_stored(ctx, serial, 5, timeout=15)
    finally:
        running.stop()


def test_a_full_writer_pauses_reading_and_loses_nothing(
    mosquitto: Mosquitto, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff, "MAX_UNCOMMITTED", 20)
    running = started(mosquitto, ctx)
    try:
        count = 2000
        publisher, serial = stream(mosquitto, ctx, count, 5000)
        publisher.join(60)
        publisher.close()
        all_stored(ctx, serial, count)
        assert running.pauses > 0, "the writer never had 20 messages in hand"
    finally:
        running.stop()
    assert not running.failed.is_set()


def test_a_long_pause_for_the_writer_keeps_the_connection(
    mosquitto: Mosquitto, ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer stalls (SIGSTOP: as a database outage would hold it) for longer than the
    keepalive allows silence: the receiver stops reading but goes on pinging, and it does
    not mistake the unread answers for a dead broker."""
    monkeypatch.setattr(handoff, "MAX_UNCOMMITTED", 20)
    monkeypatch.setattr(ingest_module, "KEEPALIVE_S", 1)
    running = started(mosquitto, ctx)
    try:
        connections = running._generation
        writer = running.handoff.pid
        assert writer is not None
        os.kill(writer, signal.SIGSTOP)
        try:
            publisher, serial = stream(mosquitto, ctx, 500, 2000)
            wait_for(lambda: running.pauses > 0, 10, "the receiver never paused")
            time.sleep(4)  # > 1.5 x the keepalive
        finally:
            os.kill(writer, signal.SIGCONT)
        publisher.join(30)
        publisher.close()
        all_stored(ctx, serial, 500)
        assert running._generation == connections, "it reconnected during the stall"
    finally:
        running.stop()
    assert not running.failed.is_set()


def test_two_ingests_with_one_client_id_back_off(mosquitto: Mosquitto, ctx: Any) -> None:
    """A second ingest with the same client id makes the broker drop the first, which
    reconnects and drops the second: each waits longer before trying again, instead of
    both reconnecting as fast as the broker answers."""
    client_id = f"test-twin-{uuid.uuid4().hex[:8]}"
    first = started(mosquitto, ctx, client_id)
    second = MqttIngest(parse_broker_url(mosquitto.url), ctx.settings.database_url, client_id)
    second.start()
    try:
        time.sleep(6)
    finally:
        second.stop()
        first.stop()
    attempts = first._generation + second._generation
    assert 3 <= attempts <= 10, attempts  # reconnecting at once made 16 here


def password_broker(tmp: Path) -> Mosquitto:
    passwords = tmp / "passwords"
    tmp.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), "ingest", "s3cret-pw"],
        check=True,
        capture_output=True,
    )
    passwords.chmod(0o600)
    broker = Mosquitto(tmp)
    broker.conf.write_text(
        broker.conf.read_text().replace(
            "allow_anonymous true", f"allow_anonymous false\npassword_file {passwords}"
        )
    )
    return broker


def test_refused_credentials_are_named_and_retried(
    tmp_path: Path, ctx: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broker = password_broker(tmp_path / "broker")
    broker.start()
    try:
        wrong = MqttIngest(
            BrokerTarget("127.0.0.1", broker.port, "ingest", "wrong"), ctx.settings.database_url
        )
        with caplog.at_level(logging.WARNING, logger="meterhub.ingest.receiver"):
            wrong.start()
            try:
                wait_for(
                    lambda: "refused the connection" in caplog.text,
                    15,
                    "no log line about the refusal",
                )
                assert not wrong.subscribed.is_set()
            finally:
                wrong.stop()
        assert "not authorised" in caplog.text or "bad user name or password" in caplog.text
        assert caplog.text.count("refused the connection") == 1, "logged at every retry"
        right = MqttIngest(
            BrokerTarget("127.0.0.1", broker.port, "ingest", "s3cret-pw"), ctx.settings.database_url
        )
        right.start()
        try:
            assert right.subscribed.wait(20)
        finally:
            right.stop()
    finally:
        broker.stop()
