"""The firmware within an ESP8266's heap: each scenario runs on the 32-bit MicroPython
build with the firmware frozen in, capped at `-X heapsize=28672` (3 KB under the
board's conservative 31.8 KB), against a real Mosquitto; what the broker received is
checked, not only that the process survived."""

from __future__ import annotations

import json
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from meterhub.firmware import heap
from meterhub.firmware.frozen import SRC_ENV, unix32_binary
from meterhub.firmware.paths import FirmwareError
from tests.support import Mosquitto, require


@pytest.fixture(scope="module")
def unix32() -> Path:
    require(bool(os.environ.get(SRC_ENV)), f"{SRC_ENV} is not set (MicroPython source)")
    try:
        return unix32_binary()
    except FirmwareError as exc:
        require(False, f"32-bit MicroPython build failed: {exc}")
        raise


class Readings:
    """Every reading published on meter/+/data, per serial, in arrival order."""

    def __init__(self, port: int) -> None:
        self.by_serial: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.batches = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="heap-collector")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("meter/+/data", qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self.lock:
            self.batches += "readings" in body
            self.by_serial[body["serial_number"]].extend(body.get("readings", [body]))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _run(unix32: Path, name: str, broker: Mosquitto | None) -> heap.RunResult:
    sc = heap.scenario(name)
    where = f"127.0.0.1:{broker.port}" if broker else "127.0.0.1:9"
    res = heap.run(unix32, sc, heap.BUDGET, where, serial="HEAP-1")
    assert res.ok, f"{name} at {heap.BUDGET} B: exit {res.exit_code}\n{res.output[-1500:]}"
    return res


def _check_all_arrived(
    readings: Readings, at_least: int, thinned_below: int = 0
) -> list[dict[str, Any]]:
    """The readings received, checked: in order, each timestamped, none lost except
    (when the queue overflowed) thinned ones among the oldest `thinned_below` seqs.
    A batch whose acknowledgement missed the deadline is sent again (QoS 1 is at least
    once; the server keeps one reading per seq): repeats are dropped first."""
    with readings.lock:
        arrived = list(readings.by_serial["HEAP-1"])
    seen: set[int] = set()
    got = []
    for r in arrived:
        if r["seq"] not in seen:
            seen.add(r["seq"])
            got.append(r)
    seqs = [r["seq"] for r in got]
    assert seqs == sorted(seqs), seqs[:50]  # in order
    missing = set(range(1, max(seqs) + 1)) - set(seqs)
    assert all(m <= thinned_below for m in missing), sorted(missing)[:20]
    assert len(seqs) >= at_least
    assert all(r["timestamp"].endswith("Z") and "mono" not in r for r in got)
    return got


def test_station_loop_fits(unix32: Path, mosquitto: Mosquitto) -> None:
    readings = Readings(mosquitto.port)
    try:
        _run(unix32, "station", mosquitto)
    finally:
        readings.close()
    _check_all_arrived(readings, 15)


def test_setup_portal_fits_and_serves_its_pages(unix32: Path) -> None:
    res = _run(unix32, "portal", None)
    assert res.portal_status == [200] * len(heap.PORTAL_PAGES)


def test_backlog_flush_fits(unix32: Path, mosquitto: Mosquitto) -> None:
    readings = Readings(mosquitto.port)
    try:
        _run(unix32, "flush", mosquitto)
    finally:
        readings.close()
    _check_all_arrived(readings, 20 + 3)
    assert readings.batches >= 1


def test_full_queue_stamped_after_late_ntp_then_flushed(unix32: Path, mosquitto: Mosquitto) -> None:
    readings = Readings(mosquitto.port)
    try:
        _run(unix32, "full-queue", mosquitto)
    finally:
        readings.close()
    # The queue is full, so readings taken while NTP still fails overflow it: the two
    # oldest segments are thinned (every other reading kept; kWh totals stay exact).
    got = _check_all_arrived(readings, heap.FULL_QUEUE, thinned_below=2 * 50)
    stamps = [r["timestamp"] for r in got[: heap.FULL_QUEUE]]
    assert stamps == sorted(stamps)  # stamped with their measurement times, in order
    assert readings.batches >= heap.FULL_QUEUE // heap_batch_max()


def heap_batch_max() -> int:
    text = (Path(__file__).parents[2] / "firmware" / "lib" / "app.py").read_text()
    return int(text.split("\nBATCH = ", 1)[1].split()[0])


def test_a_heap_too_small_is_caught(unix32: Path, mosquitto: Mosquitto) -> None:
    res = heap.run(unix32, heap.scenario("station"), 6 * 1024, f"127.0.0.1:{mosquitto.port}")
    assert not res.ok and res.memory_error, res.output[-500:]
