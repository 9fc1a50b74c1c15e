"""Several ingest workers on one stream (``meterhub ingest --shared GROUP``): a private
Mosquitto hands each message to one worker of the group, every worker writes to one
PostgreSQL database. Killed with SIGKILL mid-stream and restarted, the workers still store
every reading once; rollups, seq gaps and counters come out as one writer's would, although
each meter's readings are spread over the workers in no particular order."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import text

from tests.support import Mosquitto, wait_for
from tests.telemetry.rollup_reference import reference_aggregate

from .conftest import T0, Ingest, assert_rollups_match, counter

METERS = 200
PER_METER = 100  # 20,000 readings
KILL_AFTER_STORED = 4000


def reading(serial: str, seq: int) -> bytes:
    return orjson.dumps(
        {
            "serial_number": serial,
            "seq": seq,
            "timestamp": T0 + seq * 5,
            "voltage": 230.0 + (seq % 7) / 10,
            "current": 1.5,
            "power": 345.0 + seq % 11,
            "energy": round(10 + seq * 0.0007 + (seq % 3) * 0.0002, 4),
            "frequency": 50.0,
            "pf": 0.98,
        }
    )


def publish_all(port: int, serials: list[str]) -> mqtt.Client:
    """Publish PER_METER readings of every meter, meter after meter in each round, as
    fast as the broker takes them (QoS 1); returns the client (its loop still running)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"shared-pub-{uuid.uuid4().hex[:8]}"
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked: list[int] = []
    client.on_publish = lambda *args: acked.append(1)
    client.user_data_set(acked)
    client.connect("127.0.0.1", port)
    client.loop_start()
    for seq in range(1, PER_METER + 1):
        for serial in serials:
            client.publish(f"meter/{serial}/data", reading(serial, seq), qos=1)
    wait_for(lambda: len(acked) == len(serials) * PER_METER, 60, "the broker did not take them all")
    return client


def worker(mosquitto: Mosquitto, db_url: str, tmp: Path, name: str) -> Ingest:
    process = Ingest(mosquitto.url, db_url, tmp / name)
    process.argv += ["--shared", "meterhub", "--name", name]
    return process


def stored(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM readings")).scalar() or 0)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("workers", [2, 3])
def test_shared_workers_killed_mid_stream_store_everything_exactly_once(
    mosquitto: Mosquitto, ctx: Any, db_url: str, tmp_path: Path, workers: int
) -> None:
    processes = [worker(mosquitto, db_url, tmp_path, f"w{n}") for n in range(workers)]
    for process in processes:
        process.start()
    serials = [f"SH-{n:03d}-{uuid.uuid4().hex[:4].upper()}" for n in range(METERS)]
    try:
        client = publish_all(mosquitto.port, serials[:20])  # 20 meters: pending, racing
        wait_for(lambda: stored(ctx) >= 20 * PER_METER, 60, "the workers stored nothing")
        client.loop_stop()
        client.disconnect()
        # The rest while one worker dies.
        victim = processes[0]
        rest = threading.Thread(
            target=lambda: publish_all(mosquitto.port, serials[20:]).loop_stop(), daemon=True
        )
        rest.start()
        wait_for(lambda: stored(ctx) >= KILL_AFTER_STORED, 60, "no progress", step=0.02)
        victim.kill()
        killed_at = stored(ctx)
        time.sleep(0.5)
        victim.start()
        rest.join(90)
        assert not rest.is_alive(), "publishing did not finish"
        wait_for(
            lambda: stored(ctx) >= METERS * PER_METER,
            120,
            f"only {stored(ctx)} of {METERS * PER_METER} stored",
        )
        time.sleep(1.0)  # anything more (a duplicate) would land now
    finally:
        for process in processes:
            process.stop()
    logs = [p.log.read_text() for p in processes]
    assert all("ingest connected" in log for log in logs)
    assert killed_at < METERS * PER_METER, "the kill landed after the stream; raise PER_METER"
    with ctx.engine.connect() as conn:
        total, unique = conn.execute(
            text("SELECT count(*), count(DISTINCT (device_id, seq)) FROM readings")
        ).one()
        devices = conn.execute(text("SELECT count(*) FROM devices")).scalar()
        gaps = conn.execute(
            text("SELECT count(*) FROM device_events WHERE kind IN ('seq_gap', 'seq_restart')")
        ).scalar()
        pending_events = conn.execute(
            text("SELECT count(*) FROM device_events WHERE kind = 'pending'")
        ).scalar()
        daily = dict(
            conn.execute(
                text(
                    "SELECT d.serial_number, sum(r.energy_wh) FROM rollups_1d r "
                    "JOIN devices d ON d.id = r.device_id GROUP BY d.serial_number"
                )
            ).all()
        )
        raw = conn.execute(
            text(
                "SELECT d.serial_number, r.ts, r.voltage, r.current, r.power, r.energy, "
                "r.frequency, r.pf FROM readings r JOIN devices d ON d.id = r.device_id "
                "ORDER BY d.serial_number, r.ts"
            )
        ).all()
    assert (total, unique) == (METERS * PER_METER, METERS * PER_METER)
    assert devices == METERS and pending_events == METERS  # each meter created once
    assert gaps == 0
    by_serial: dict[str, list[tuple[Any, ...]]] = {}
    for row in raw:
        by_serial.setdefault(row[0], []).append((row[1] / 1000, *row[2:]))
    for serial, rows in by_serial.items():
        aggs, _ = reference_aggregate(rows, None)
        assert daily[serial] == sum(a["energy_wh"] for a in aggs.values()), serial
    for serial in serials[::10]:
        assert_rollups_match(ctx, serial)
    assert counter(ctx, "readings_stored") == METERS * PER_METER
    assert counter(ctx, "readings_stored") + counter(ctx, "readings_duplicate") >= total
    print(
        f"{workers} shared workers: {METERS * PER_METER} readings, {killed_at} stored at the "
        f"kill, {counter(ctx, 'readings_late')} late, "
        f"{counter(ctx, 'readings_duplicate')} redelivered"
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_shared_workers_keep_consuming_after_a_broker_restart(
    mosquitto: Mosquitto, ctx: Any, db_url: str, tmp_path: Path
) -> None:
    """Mosquitto before 2.0.12 does not restore a persistent session's `$share`
    subscription after a restart; the workers subscribe again at every connect."""
    processes = [worker(mosquitto, db_url, tmp_path, f"r{n}") for n in range(2)]
    for process in processes:
        process.start()
    serials = [f"RS-{n:02d}-{uuid.uuid4().hex[:4].upper()}" for n in range(10)]
    try:
        publish_all(mosquitto.port, serials[:5]).loop_stop()
        wait_for(lambda: stored(ctx) >= 5 * PER_METER, 60, "nothing stored before the restart")
        mosquitto.stop()
        mosquitto.start()
        for process in processes:  # both reconnected (a second "ingest connected" line)
            wait_for(
                lambda p=process: p.log.read_text().count("ingest connected") >= 2,
                60,
                f"a worker did not reconnect; see {process.log}",
            )
        publish_all(mosquitto.port, serials[5:]).loop_stop()
        wait_for(
            lambda: stored(ctx) >= 10 * PER_METER,
            60,
            f"only {stored(ctx)} of {10 * PER_METER} stored after the restart",
        )
    finally:
        for process in processes:
            process.stop()
    with ctx.engine.connect() as conn:
        total, unique = conn.execute(
            text("SELECT count(*), count(DISTINCT (device_id, seq)) FROM readings")
        ).one()
    assert (total, unique) == (10 * PER_METER, 10 * PER_METER)
