"""Sampling never waits on the network: a broker frozen with SIGSTOP (process stopped,
its TCP port still accepting) for 20 s under two virtual meters reading every 2 s.
Afterwards each meter's readings are all there (no seq gap) and no two consecutive
readings are more than 2.5 s apart by their own timestamps."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from meterhub.firmware.virtual import VirtualFleet, serial_for
from tests.support import Mosquitto

METERS = 2
INTERVAL_S = 2.0
STALL_S = 20.0
MAX_GAP_S = 2.5


class Stored:
    """The readings as a subscriber with a persistent session keeps them (by seq)."""

    def __init__(self, port: int) -> None:
        self.readings: dict[str, dict[int, str]] = defaultdict(dict)
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="stall-store", clean_session=False
        )
        self.client.on_connect = lambda c, *a: c.subscribe("meter/+/data", qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port, keepalive=120)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        with self.lock:
            for r in body.get("readings", [body]):
                self.readings[body["serial_number"]][r["seq"]] = r["timestamp"]

    def snapshot(self, serial: str) -> dict[int, str]:
        with self.lock:
            return dict(self.readings[serial])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _gaps(stamps: dict[int, str]) -> list[float]:
    times = [datetime.fromisoformat(stamps[s]).timestamp() for s in sorted(stamps)]
    return [b - a for a, b in itertools.pairwise(times)]


def test_stalled_broker_never_delays_a_reading(mosquitto: Mosquitto, tmp_path: Path) -> None:
    assert mosquitto.proc is not None
    store = Stored(mosquitto.port)
    fleet = VirtualFleet(
        METERS,
        INTERVAL_S,
        f"mqtt://127.0.0.1:{mosquitto.port}",
        workdir=tmp_path / "meters",
        fast=True,
        log=lambda _: None,
    )
    serials = [serial_for(i) for i in range(METERS)]

    def wait(pred: Any, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            fleet.poll()
            if pred():
                return True
            time.sleep(0.2)
        return False

    fleet.start()
    try:
        assert wait(lambda: all(len(store.snapshot(s)) >= 2 for s in serials), 30)
        os.kill(mosquitto.proc.pid, signal.SIGSTOP)
        try:
            end = time.monotonic() + STALL_S
            while time.monotonic() < end:
                fleet.poll()
                time.sleep(0.2)
        finally:
            os.kill(mosquitto.proc.pid, signal.SIGCONT)
        stall_readings = int(STALL_S / INTERVAL_S)

        def caught_up() -> bool:
            for s in serials:
                got = store.snapshot(s)
                if len(got) < 2 + stall_readings + 2 or sorted(got) != list(range(1, max(got) + 1)):
                    return False
            return True

        ok = wait(caught_up, 40)
        logs = {p.name: p.read_text()[-600:] for p in (tmp_path / "meters").glob("*.log")}
        assert ok, ({s: sorted(store.snapshot(s)) for s in serials}, logs)
        assert fleet.restarts == 0
    finally:
        fleet.stop()
        store.close()
    for s in serials:
        gaps = _gaps(store.snapshot(s))
        assert max(gaps) <= MAX_GAP_S, (s, [round(g, 2) for g in gaps])
