"""MQTT load for the benchmarks, in child processes (so each has its own core and GIL):

* `publish_plan`: publisher processes that send prepared v1 messages at QoS 1 as fast as
  they can (a minimal raw-socket MQTT client, see `RawPublisher`);
* `publish_paced`: one publisher at a steady rate whose timestamps are the publish time
  (the latency case compares them with the receive time);
* `bare_subscriber`: the baseline, a paho QoS 1 subscriber that only receives and counts;
* `bare_wire_subscriber`: the same on ingest's own MQTT reader (`meterhub.mqtt_wire`).

Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.context import SpawnContext
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from meterhub import mqtt_wire
from meterhub.bench.common import cpu_seconds, percentile

CTX: SpawnContext = mp.get_context("spawn")
PUBLISHER_INFLIGHT = 1000
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Plan:
    """What one publisher process sends: `per_meter` readings for each of `serials`,
    `batch` readings per message (1: the single-reading payload), meters interleaved."""

    host: str
    port: int
    serials: tuple[str, ...]
    per_meter: int
    batch: int = 1
    start_ts: float = 1_780_000_000.0
    interval_s: float = 10.0
    qos: int = 1

    @property
    def messages(self) -> int:
        return len(self.serials) * -(-self.per_meter // self.batch)

    @property
    def readings(self) -> int:
        return len(self.serials) * self.per_meter


def reading(serial: str, seq: int, ts: float, iso: bool = True) -> dict[str, Any]:
    """A plausible v1 reading (values vary with seq; energy only grows)."""
    power = 100.0 + (seq * 37 % 2000)
    return {
        "serial_number": serial,
        "seq": seq,
        "timestamp": (
            datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
            if iso
            else round(ts, 3)
        ),
        "voltage": 229.0 + (seq % 7) * 0.3,
        "current": round(power / 230.0, 3),
        "power": power,
        "energy": round(100.0 + seq * 0.005, 3),
        "frequency": 50.0,
        "pf": 0.95,
        "alarm": False,
    }


def build_messages(plan: Plan) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for first in range(0, plan.per_meter, plan.batch):
        count = min(plan.batch, plan.per_meter - first)
        for serial in plan.serials:
            items = [
                reading(serial, k + 1, plan.start_ts + k * plan.interval_s)
                for k in range(first, first + count)
            ]
            if plan.batch == 1:
                payload = orjson.dumps(items[0])
            else:
                for item in items:
                    del item["serial_number"]
                payload = orjson.dumps({"serial_number": serial, "readings": items})
            out.append((f"meter/{serial}/data", payload))
    return out


def _client(name: str) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-{name}-{os.getpid()}", protocol=mqtt.MQTTv311
    )


def _connect(client: mqtt.Client, host: str, port: int) -> None:
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(host, port, keepalive=60)
    client.loop_start()
    if not connected.wait(CONNECT_TIMEOUT_S):
        raise RuntimeError(f"no CONNACK from {host}:{port}")


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 1."""
    return mqtt_wire.packet(0x32, mqtt_wire.string(topic) + packet_id.to_bytes(2, "big") + payload)


class RawPublisher:
    """A minimal MQTT 3.1.1 QoS 1 publisher on a plain socket: pre-encoded PUBLISH packets
    written in chunks, at most `window` unacknowledged, PUBACKs counted by a reader thread.

    Why not paho: paho-mqtt 2.2 spends ~120 us of CPU per QoS 1 publish (measured: 20,000
    messages, 2.45 s CPU, 7.7k msg/s at best). On a 2-core machine such a load generator
    would take the CPU the system under test needs; this one costs a few us per message.
    """

    def __init__(self, host: str, port: int, client_id: str, window: int = 1000) -> None:
        self.window = window
        self.acked = 0
        self._cond = threading.Condition()
        self.sock = socket.create_connection((host, port), CONNECT_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(mqtt_wire.connect_packet(client_id, 60, clean_session=True))
        connack = self._read_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"broker refused the connection: {connack!r}")
        self.sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _read_acks(self) -> None:
        pending = 0
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            pending += len(chunk)  # only PUBACKs come back: 4 bytes each
            with self._cond:
                self.acked += pending // 4
                pending %= 4
                self._cond.notify_all()

    def send_all(self, packets: list[bytes], deadline: float, chunk: int = 200) -> None:
        sent = 0
        while sent < len(packets) and time.monotonic() < deadline:
            with self._cond:
                while self.acked + self.window - sent <= 0 and time.monotonic() < deadline:
                    self._cond.wait(0.5)
                room = self.acked + self.window - sent
            take = max(1, min(room, chunk, len(packets) - sent))
            self.sock.sendall(b"".join(packets[sent : sent + take]))
            sent += take
        with self._cond:
            while self.acked < sent and time.monotonic() < deadline:
                self._cond.wait(0.5)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(mqtt_wire.DISCONNECT_PACKET)
        self.sock.close()


def publish_plan(plan: Plan, ready: Any, go: Any, results: Any, timeout: float) -> None:
    """Child process: prepare the messages, wait for `go`, send them all at QoS 1 and wait
    for every PUBACK (bounded by `timeout`); put a summary on `results`."""
    packets = [
        publish_packet(topic, payload, i % 65535 + 1)
        for i, (topic, payload) in enumerate(build_messages(plan))
    ]
    publisher = RawPublisher(plan.host, plan.port, f"bench-pub-{os.getpid()}", PUBLISHER_INFLIGHT)
    ready.set()
    go.wait(timeout)
    cpu0, t0 = cpu_seconds(os.getpid()), time.time()
    publisher.send_all(packets, time.monotonic() + timeout)
    t1 = time.time()
    results.put(
        {
            "kind": "publisher",
            "messages": len(packets),
            "acked": publisher.acked,
            "t_start": t0,
            "t_end": t1,
            "cpu_s": cpu_seconds(os.getpid()) - cpu0,
        }
    )
    publisher.close()


def bare_subscriber(
    host: str,
    port: int,
    expect: int,
    ready: Any,
    results: Any,
    timeout: float,
    qos: int = 1,
    latency: bool = False,
    topic: str = "meter/+/data",
) -> None:
    """Child process: subscribe, count messages until `expect` arrived (or `timeout` s
    after subscribing), put a summary on `results`. With `latency`, also the delay from
    each payload's numeric `timestamp` (publish time) to its arrival."""
    client = _client("sub")
    count = 0
    first = last = 0.0
    delays: list[float] = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal count, first, last
        now = time.time()
        if not count:
            first = now
        count += 1
        last = now
        if latency:
            ts = orjson.loads(msg.payload).get("timestamp")
            if isinstance(ts, float | int):
                delays.append((now - ts) * 1000)
        if count >= expect:
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.max_inflight_messages_set(1000)
    _connect(client, host, port)
    client.subscribe(topic, qos)
    subscribed.wait(CONNECT_TIMEOUT_S)
    cpu0 = cpu_seconds(os.getpid())
    ready.set()
    done.wait(timeout)
    results.put(
        {
            "kind": "subscriber",
            "received": count,
            "t_first": first,
            "t_last": last,
            "cpu_s": cpu_seconds(os.getpid()) - cpu0,
            "p50_ms": percentile(delays, 50),
            "p99_ms": percentile(delays, 99),
        }
    )
    client.disconnect()
    client.loop_stop()


def bare_wire_subscriber(
    host: str,
    port: int,
    expect: int,
    ready: Any,
    results: Any,
    timeout: float,
    topic: str = "meter/+/data",
) -> None:
    """Child process: like `bare_subscriber`, on the MQTT reader ingest uses (everything
    one read brings parsed at once, its PUBACKs in one write), so that ingest's cost of
    storing shows apart from the cost of receiving."""
    sock = socket.create_connection((host, port), CONNECT_TIMEOUT_S)
    sock.sendall(mqtt_wire.connect_packet(f"bench-wire-{os.getpid()}", 60, clean_session=True))
    sock.sendall(mqtt_wire.subscribe_packet(1, [(topic, 1)]))
    reader = mqtt_wire.PacketReader()
    count, first, last = 0, 0.0, 0.0
    end = time.monotonic() + CONNECT_TIMEOUT_S
    publishes: list[mqtt_wire.Publish] = []
    controls: list[mqtt_wire.Control] = []
    while not any(c.kind == mqtt_wire.SUBACK for c in controls):
        if time.monotonic() > end:
            raise RuntimeError(f"no SUBACK from {host}:{port}")
        reader.feed(sock.recv(65536), publishes, controls)
    cpu0 = cpu_seconds(os.getpid())
    ready.set()
    sock.settimeout(1.0)
    end = time.monotonic() + timeout
    while count < expect and time.monotonic() < end:
        try:
            data = sock.recv(262144)
        except TimeoutError:
            continue
        if not data:
            break
        publishes.clear()
        reader.feed(data, publishes, controls)
        if publishes:
            last = time.time()
            first = first or last
            count += len(publishes)
            sock.sendall(mqtt_wire.puback_packets([mid for _, _, qos, mid in publishes if qos]))
    results.put(
        {
            "kind": "subscriber",
            "received": count,
            "t_first": first,
            "t_last": last,
            "cpu_s": cpu_seconds(os.getpid()) - cpu0,
            "p50_ms": None,
            "p99_ms": None,
        }
    )
    with contextlib.suppress(OSError):
        sock.sendall(mqtt_wire.DISCONNECT_PACKET)
    sock.close()


def publish_paced(
    host: str,
    port: int,
    serials: tuple[str, ...],
    rate: float,
    duration: float,
    results: Any,
    qos: int = 1,
) -> None:
    """Child process: `rate` readings/s round-robin over `serials` for `duration` s, each
    stamped with its publish time (numeric epoch seconds, ms resolution)."""
    client = _client("paced")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    _connect(client, host, port)
    tick = 0.01
    per_tick = rate * tick
    sent = 0
    owed = 0.0
    seqs = dict.fromkeys(serials, 0)
    start = time.monotonic()
    next_tick = start
    index = 0
    while time.monotonic() - start < duration:
        owed += per_tick
        while owed >= 1:
            serial = serials[index % len(serials)]
            index += 1
            seqs[serial] += 1
            payload = orjson.dumps(reading(serial, seqs[serial], time.time(), iso=False))
            client.publish(f"meter/{serial}/data", payload, qos=qos)
            sent += 1
            owed -= 1
        next_tick += tick
        time.sleep(max(0.0, next_tick - time.monotonic()))
    time.sleep(0.2)
    results.put({"kind": "paced", "sent": sent, "seconds": time.monotonic() - start})
    client.disconnect()
    client.loop_stop()
