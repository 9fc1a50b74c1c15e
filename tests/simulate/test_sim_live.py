"""The simulator against a real broker (the embedded one on a free port)."""

from __future__ import annotations

import asyncio
import io
import json
import queue
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.broker.embedded import EmbeddedBroker
from meterhub.broker.url import BrokerTarget
from meterhub.simulate import build_models, make_serials
from meterhub.simulate.cli import simulate_command
from meterhub.simulate.runner import SimOptions, run_simulation

Inbox = queue.Queue[tuple[str, bytes, bool]]


@pytest.fixture
def subscriber(embedded_broker: EmbeddedBroker) -> Iterator[Inbox]:
    """A paho (MQTT 3.1.1) client collecting everything under meter/#."""
    inbox: Inbox = queue.Queue()
    subscribed = queue.Queue[bool]()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
    )
    client.on_message = lambda _c, _u, m: inbox.put((m.topic, m.payload, m.retain))
    client.on_subscribe = lambda *_a: subscribed.put(True)
    client.connect("127.0.0.1", embedded_broker.port)
    client.loop_start()
    client.subscribe("meter/#", qos=1)
    subscribed.get(timeout=5)
    yield inbox
    client.disconnect()
    client.loop_stop()


def _drain(inbox: Inbox, settle: float = 1.0) -> list[tuple[str, bytes, bool]]:
    messages = []
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        try:
            messages.append(inbox.get(timeout=0.1))
            deadline = time.monotonic() + settle
        except queue.Empty:
            pass
    return messages


def test_outages_flush_as_batches_without_seq_gaps(
    embedded_broker: EmbeddedBroker, subscriber: Inbox
) -> None:
    serials = make_serials(3, seed=11)
    models = build_models(serials, "household", seed=11)
    target = BrokerTarget("127.0.0.1", embedded_broker.port)
    options = SimOptions(interval=0.1, speed=1.0, outages=0.15, duration=2.5, seed=11)
    stats = asyncio.run(run_simulation(models, target, options, stream=io.StringIO()))
    messages = _drain(subscriber)

    seqs: dict[str, list[int]] = defaultdict(list)
    statuses: dict[str, list[Any]] = defaultdict(list)
    batches = 0
    for topic, payload, _retain in messages:
        serial = topic.split("/")[1]
        if topic.endswith("/status"):
            text = payload.decode()
            statuses[serial].append(json.loads(text) if text.startswith("{") else text)
            continue
        body = json.loads(payload)
        assert body["serial_number"] == serial
        if "readings" in body:
            batches += 1
            seqs[serial].extend(r["seq"] for r in body["readings"])
        else:
            seqs[serial].append(body["seq"])
    assert stats.outages > 0 and batches > 0
    assert sum(len(v) for v in seqs.values()) == stats.readings
    for serial in serials:
        assert seqs[serial] == list(range(1, len(seqs[serial]) + 1)), serial
        assert statuses[serial][0]["state"] == "online"
        assert statuses[serial][-1] == "offline"


def test_cli_runs_against_a_given_broker(
    embedded_broker: EmbeddedBroker, subscriber: Inbox
) -> None:
    out = io.StringIO()
    code = simulate_command(
        2,
        0.2,
        f"mqtt://127.0.0.1:{embedded_broker.port}",
        profile="workshop",
        speed=5.0,
        duration=1.0,
        seed=3,
        stream=out,
    )
    assert code == 0
    data = [m for m in _drain(subscriber) if m[0].endswith("/data")]
    assert data and "stopped:" in out.getvalue()
    first = json.loads(data[0][1])
    assert first["seq"] == 1 and first["firmware_version"]


def test_cli_backfill_hands_chunks_to_the_writer(embedded_broker: EmbeddedBroker) -> None:
    chunks: list[list[dict[str, Any]]] = []
    code = simulate_command(
        2,
        1.0,
        f"mqtt://127.0.0.1:{embedded_broker.port}",
        backfill=1.0,
        duration=0.3,
        history_writer=chunks.append,
        stream=io.StringIO(),
    )
    assert code == 0
    # 1 day at the 60 s history interval, aligned to whole minutes
    assert sum(len(c) for c in chunks) in (2 * 1440, 2 * 1441)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"meters": 0}, "--meters must be at least 1"),
        ({"interval": 0.0}, "--interval must be a positive"),
        ({"outages": 2.0}, "--outages is a probability"),
        ({"profile": "castle"}, "unknown load profile 'castle'"),
        ({"backfill": 3.0}, "--backfill needs the database writer"),
    ],
)
def test_cli_errors_are_one_line(
    kwargs: dict[str, Any], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args: dict[str, Any] = {"meters": 1, "interval": 1.0, "broker": "mqtt://127.0.0.1:9"} | kwargs
    assert simulate_command(**args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err


def test_cli_auto_without_broker_says_what_to_do(
    free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate_command(1, 1.0, "auto", mqtt_port=free_port, duration=0.1) == 2
    err = capsys.readouterr().err
    assert f"no MQTT broker answers on localhost:{free_port}" in err
    assert "--broker embedded" in err


def test_cli_unreachable_broker_fails_with_one_line(
    free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate_command(1, 1.0, f"mqtt://127.0.0.1:{free_port}", duration=0.1) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1
    assert errors[0].startswith(
        f"error: cannot connect to MQTT broker mqtt://127.0.0.1:{free_port}"
    )
