"""End to end: virtual meters (real firmware in MicroPython) -> our own Mosquitto,
which goes away for a while; afterwards every reading has arrived, no gap in seq."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from meterhub.firmware.virtual import VirtualFleet, serial_for
from tests.support import Mosquitto

METERS = 3
INTERVAL_S = 0.5
OUTAGE_S = 4.0


class Collector:
    """Subscribes to meter/+/data with a persistent session (survives broker restarts)."""

    def __init__(self, port: int) -> None:
        self.seqs: dict[str, list[int]] = defaultdict(list)
        self.batches: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-collector", clean_session=False
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe("meter/+/data", qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        readings = body.get("readings", [body])
        with self.lock:
            if "readings" in body:
                self.batches[body["serial_number"]] += 1
            for r in readings:
                assert r["timestamp"].endswith("Z")
                assert 80 <= r["voltage"] <= 260 and r["energy"] >= 0
                self.seqs[body["serial_number"]].append(r["seq"])

    def count(self, serial: str) -> int:
        with self.lock:
            return len(set(self.seqs[serial]))

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def contiguous(seqs: list[int]) -> bool:
    s = set(seqs)
    return bool(s) and s == set(range(1, max(s) + 1))


def test_broker_outage_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    collector = Collector(mosquitto.port)
    fleet = VirtualFleet(
        METERS,
        INTERVAL_S,
        f"mqtt://127.0.0.1:{mosquitto.port}",
        workdir=tmp_path / "meters",
        fast=True,
        log=lambda _: None,
    )
    serials = [serial_for(i) for i in range(METERS)]
    fleet.start()
    try:
        assert collector.wait_for(lambda: all(collector.count(s) >= 3 for s in serials), 30), dict(
            collector.seqs
        )
        mosquitto.stop()
        outage_start = time.monotonic()
        while time.monotonic() - outage_start < OUTAGE_S:
            fleet.poll()
            time.sleep(0.2)
        mosquitto.start()
        before = {s: collector.count(s) for s in serials}
        expected_min = {s: before[s] + int(OUTAGE_S / INTERVAL_S) - 2 for s in serials}

        def all_in() -> bool:
            fleet.poll()
            with collector.lock:
                return all(
                    contiguous(collector.seqs[s]) and len(set(collector.seqs[s])) >= expected_min[s]
                    for s in serials
                )

        ok = collector.wait_for(all_in, 60)
        logs = {p.name: p.read_text()[-500:] for p in (tmp_path / "meters").glob("*.log")}
        assert ok, (dict(collector.seqs), logs)
        for s in serials:
            assert collector.batches[s] >= 1, f"{s}: no backlog batch after the outage"
        assert fleet.restarts == 0
    finally:
        fleet.stop()
        collector.close()
    for s in serials:
        print(
            f"{s}: {len(set(collector.seqs[s]))} readings, max seq {max(collector.seqs[s])}, "
            f"{collector.batches[s]} batch message(s), duplicates "
            f"{len(collector.seqs[s]) - len(set(collector.seqs[s]))}"
        )


@pytest.mark.parametrize("meters", [2])
def test_run_virtual_meters_stops_cleanly(
    mosquitto: Mosquitto, tmp_path: Path, meters: int
) -> None:
    from meterhub.firmware.virtual import run_virtual_meters

    collector = Collector(mosquitto.port)
    try:
        restarts = run_virtual_meters(
            meters,
            0.5,
            f"mqtt://127.0.0.1:{mosquitto.port}",
            workdir=tmp_path / "m",
            duration=4,
            fast=True,
            log=lambda _: None,
        )
        assert restarts == 0
        assert collector.wait_for(
            lambda: all(collector.count(serial_for(i)) >= 2 for i in range(meters)), 10
        )
    finally:
        collector.close()
