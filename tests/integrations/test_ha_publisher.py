"""The HA discovery publisher against a real Mosquitto, with a plain MQTT client in the
place of Home Assistant: configs announced and retained, states from stored readings,
energy never 0 or lower across a meter restart, re-announce on HA's birth message, and
removal of deleted devices (also ones announced before the publisher started)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meterhub.broker.url import BrokerTarget
from meterhub.context import AppContext
from meterhub.db.models import Device
from meterhub.integrations import ha_discovery as ha
from meterhub.integrations import ha_publisher
from meterhub.integrations.ha_publisher import HaPublisher
from meterhub.integrations.source import ActiveDevice
from meterhub.services import devices as device_service
from tests.e2e.conftest import Mosquitto
from tests.integrations.conftest import Observer, add_device, settle, store, wait_for

QUANTITIES = ("power", "energy", "voltage", "current", "frequency", "power_factor")
T0 = time.time() - 3600


@pytest.fixture
def start_publisher(
    ctx: AppContext, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    monkeypatch.setattr(ha_publisher, "POLL_S", 0.05)
    monkeypatch.setattr(ha_publisher, "REANNOUNCE_JITTER_S", 0.0)
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(cost_source: Any = None) -> HaPublisher:
        pub = HaPublisher(
            ctx.engine,
            BrokerTarget("127.0.0.1", mosquitto.port),
            public_url="http://mh.test",
            cost_source=cost_source,
        )
        stop = threading.Event()
        thread = threading.Thread(target=pub.run, args=(stop,))
        thread.start()
        running.append((stop, thread))
        return pub

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(10)


def retained(port: int, topic_filter: str) -> dict[str, bytes]:
    """What a client subscribing now gets as retained messages."""
    got: dict[str, bytes] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.__setitem__(m.topic, bytes(m.payload))
    client.connect("127.0.0.1", port)
    client.subscribe(topic_filter, 1)
    client.loop_start()
    settle(0.5)
    client.disconnect()
    client.loop_stop()
    return got


def config_topic(serial: str, key: str) -> str:
    return f"homeassistant/sensor/meterhub_{serial}/{key}/config"


def states(observer: Observer, serial: str) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in observer.on(f"meterhub/{serial}/state") if m.payload]


def test_announces_every_device_with_state_and_availability(
    ctx: AppContext, mosquitto: Mosquitto, observer: Observer, start_publisher: Any
) -> None:
    add_device(ctx, "HA-1", name="Kitchen", location="Kitchen")
    add_device(ctx, "HA-NEW")
    store(ctx, "HA-1", T0, 5.000)
    store(ctx, "HA-1", T0 + 10, 5.012, power=4300)
    store(ctx, "HA-NEW", T0, 0.0)  # a brand-new meter: nothing counted yet
    start_publisher()

    wait_for(lambda: states(observer, "HA-1"), 10, "no state for HA-1")
    assert states(observer, "HA-1")[-1] == {
        "energy": 0.012,
        "power": 4300.0,
        "voltage": 230.0,
        "current": 18.696,
        "frequency": 50.0,
        "power_factor": 0.95,
        "meter_counter_kwh": 5.012,
        "ts": int(T0 + 10),
    }
    kept = retained(mosquitto.port, "#")
    for serial in ("HA-1", "HA-NEW"):
        for key in QUANTITIES:
            config = json.loads(kept[config_topic(serial, key)])
            assert config["state_topic"] == f"meterhub/{serial}/state"
    power = json.loads(kept[config_topic("HA-1", "power")])
    assert power["device"]["configuration_url"] == "http://mh.test/devices/HA-1"
    assert power["device"]["name"] == "Kitchen"
    assert kept["meterhub/bridge/availability"] == b"online"
    assert kept["meterhub/HA-1/availability"] in (b"online", b"offline")
    assert json.loads(kept["meterhub/HA-1/state"])["energy"] == 0.012
    # HA-NEW has counted nothing: a state would have to say 0, so none is sent.
    assert "meterhub/HA-NEW/state" not in kept
    assert states(observer, "HA-NEW") == []


def test_energy_never_zero_or_lower_across_a_meter_restart(
    ctx: AppContext, observer: Observer, start_publisher: Any
) -> None:
    add_device(ctx, "HA-R")
    start_publisher()
    # counter 5.000 -> 5.010, the meter restarts and reads 0, then its counter again
    steps = [(0, 5.000), (10, 5.010), (20, 0.0), (30, 5.020), (40, 5.030)]
    for offset, counter in steps:
        store(ctx, "HA-R", T0 + offset, counter)
        if offset:
            wait_for(
                lambda o=offset: any(s["ts"] == int(T0 + o) for s in states(observer, "HA-R")),
                10,
                f"no state for the reading at +{offset} s",
            )
    sent = states(observer, "HA-R")
    energies = [s["energy"] for s in sent]
    assert all(e > 0 for e in energies), energies
    assert energies == sorted(energies), energies
    assert energies[-1] == 0.02  # 10 Wh before the restart + 10 Wh after it
    assert [s["meter_counter_kwh"] for s in sent][-3:] == [0.0, 5.02, 5.03]


def test_reannounces_when_home_assistant_comes_online(
    ctx: AppContext, observer: Observer, start_publisher: Any
) -> None:
    add_device(ctx, "HA-B")
    store(ctx, "HA-B", T0, 1.0)
    store(ctx, "HA-B", T0 + 10, 1.005)
    start_publisher()
    wait_for(lambda: states(observer, "HA-B"), 10, "no first state")
    settle()
    observer.clear()
    settle()
    assert observer.matching("homeassistant/sensor/") == []  # nothing without a reason

    observer.publish("homeassistant/status", b"offline")
    settle()
    assert observer.matching("homeassistant/sensor/") == []
    observer.publish("homeassistant/status", b"online")
    wait_for(
        lambda: len(observer.matching("homeassistant/sensor/meterhub_HA-B/")) >= len(QUANTITIES),
        10,
        "configs not sent again after HA's birth message",
    )
    wait_for(lambda: states(observer, "HA-B"), 10, "state not sent again")
    assert observer.on("meterhub/HA-B/availability")


def test_deleted_devices_lose_their_entities(
    ctx: AppContext, mosquitto: Mosquitto, observer: Observer, start_publisher: Any
) -> None:
    # left over from before this publisher ran: a device deleted while it was down
    stale = config_topic("GONE", "power")
    observer.publish(stale, b'{"name": "Power"}', retain=True)
    observer.publish("meterhub/GONE/availability", b"online", retain=True)
    device_id = add_device(ctx, "HA-D")
    store(ctx, "HA-D", T0, 2.0)
    store(ctx, "HA-D", T0 + 10, 2.004)
    start_publisher()
    wait_for(lambda: states(observer, "HA-D"), 10, "no state")
    wait_for(lambda: stale not in retained(mosquitto.port, "homeassistant/#"), 10, "stale kept")

    with ctx.sessions() as db:
        device = db.get(Device, device_id)
        assert device is not None
        device_service.delete_device(db, None, device)
        db.commit()

    def gone() -> bool:
        kept = retained(mosquitto.port, "#")
        return not any("HA-D" in topic or "GONE" in topic for topic in kept)

    wait_for(gone, 10, "entities of a deleted device are still announced")
    removals = observer.on(config_topic("HA-D", "energy"))
    assert removals[-1].payload == b""


def test_tariff_hook_adds_a_monetary_cost_sensor(
    ctx: AppContext, mosquitto: Mosquitto, observer: Observer, start_publisher: Any
) -> None:
    """What tariffs will plug in: a month-cost function. Priced devices get the cost
    sensor and `cost_month` in their state; unpriced ones get neither."""
    add_device(ctx, "HA-PRICED")
    add_device(ctx, "HA-FREE")
    for serial in ("HA-PRICED", "HA-FREE"):
        store(ctx, serial, T0, 1.0)
        store(ctx, serial, T0 + 10, 1.004)

    def month_cost(conn: Any, device: ActiveDevice) -> ha.MonthCost | None:
        if device.serial != "HA-PRICED":
            return None
        return ha.MonthCost(12500.0, "VND", "2026-12-01T00:00:00+07:00")

    start_publisher(month_cost)
    wait_for(lambda: states(observer, "HA-PRICED") and states(observer, "HA-FREE"), 10, "states")
    assert states(observer, "HA-PRICED")[-1]["cost_month"] == 12500.0
    assert "cost_month" not in states(observer, "HA-FREE")[-1]
    kept = retained(mosquitto.port, "homeassistant/#")
    cost = json.loads(kept[config_topic("HA-PRICED", "cost_month")])
    assert (cost["device_class"], cost["unit_of_measurement"]) == ("monetary", "VND")
    assert config_topic("HA-FREE", "cost_month") not in kept
