"""Bytes per reading on the wire and on disk, for docs/scaling.md's capacity plan.

On the wire: the payload `meterhub simulate` publishes (the simulator's v1 reading, the
same fields as the firmware's live message), averaged over a day of 10 s readings from
100 meters, and the MQTT PUBLISH packet that carries it (QoS 1, topic meter/<serial>/data).

Writes N readings (DEVICES meters, one every 10 s, interleaved in batches of 1,000 as ingest
commits them) through ingest's own store (`TelemetryStore.write`, so rollups are ingest's
too) into a fresh SQLite file and a fresh PostgreSQL database, then reports the size of the
readings table with its indexes and of each rollup table, per reading.

    .venv/bin/python scripts/storage_per_reading.py [--readings 100000] [--devices 100]
        [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from meterhub.db.engine import make_engine, make_sessionmaker
from meterhub.db.migrate import upgrade
from meterhub.protocol.readings import Reading
from meterhub.services import devices as device_service
from meterhub.store.batch import Batch
from meterhub.store.write import TelemetryStore

TABLES = ("readings", "rollups_15m", "rollups_1h", "rollups_1d")


def fill(url: str, readings: int, devices: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    serials = [f"PZEM-{i:06X}" for i in range(devices)]
    with make_sessionmaker(engine)() as db:
        for serial in serials:
            device_service.create(db, None, serial)
        db.commit()
    store = TelemetryStore(engine)
    # Ending an hour ago; ingest's late window (30 days) bounds how far back this may start.
    start = time.time() - 3600 - (readings // devices) * 10.0
    batch: list[Reading] = []
    for n in range(readings):
        step, device = divmod(n, devices)
        energy = 1000.0 + step * 0.001
        batch.append(
            Reading(
                serials[device], start + step * 10.0, True, 230.0 + (n % 50) / 10,
                1.0 + (n % 300) / 100, 230.0 + (n % 700) / 10, round(energy, 3), 50.0, 0.95,
                False, step + 1,
            )
        )  # fmt: skip
        if len(batch) == 1000:
            store.write(Batch(readings=batch))
            batch = []
    if batch:
        store.write(Batch(readings=batch))
    engine.dispose()


def wire_sizes(meters: int = 100, per_meter: int = 8640) -> dict[str, float]:
    """Average payload and MQTT PUBLISH packet of a simulated meter's live reading."""
    import orjson

    from meterhub.simulate.model import MeterModel

    payload = packet = 0
    t0 = time.time() - 86400
    for i in range(meters):
        serial = f"PZEM-{i:06X}"
        topic = f"meter/{serial}/data".encode()
        for reading in MeterModel(serial).sample_grid(t0, 10.0, per_meter):
            size = len(orjson.dumps(reading))
            remaining = 2 + len(topic) + 2 + size  # topic length, topic, packet id, payload
            payload += size
            packet += 1 + (1 if remaining < 128 else 2 if remaining < 16384 else 3) + remaining
    n = meters * per_meter
    return {"payload_bytes": round(payload / n, 1), "mqtt_publish_bytes": round(packet / n, 1)}


def row_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        counts = {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0)  # noqa: S608 - our names
            for t in TABLES
        }
    engine.dispose()
    return counts


def sqlite_sizes(path: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("VACUUM"))
        rows = conn.execute(
            text(
                "SELECT s.name, m.tbl_name, SUM(s.pgsize) FROM dbstat s "
                "JOIN sqlite_master m ON m.name = s.name GROUP BY s.name"
            )
        ).all()
    engine.dispose()
    sizes: dict[str, int] = {}
    for _name, table, size in rows:
        sizes[table] = sizes.get(table, 0) + int(size)
    return {t: sizes.get(t, 0) for t in TABLES}


def pg_sizes(url: str, full: bool) -> dict[str, int]:
    """After VACUUM (what a running system has: rollup rows updated in every batch leave
    dead versions whose space is reused, not returned) or VACUUM FULL (compacted)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM FULL ANALYZE" if full else "VACUUM ANALYZE"))
        sizes = {
            t: int(conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar() or 0)
            for t in TABLES
        }
    engine.dispose()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    out: dict[str, object] = {"readings": args.readings, "devices": args.devices}
    out["wire"] = wire_sizes()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.db"
        fill(f"sqlite:///{path}", args.readings, args.devices)
        out["rows"] = row_counts(f"sqlite:///{path}")
        out["sqlite"] = sqlite_sizes(path)
    admin = create_engine(
        args.pg.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    name = f"meterhub_size_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
        fill(url, args.readings, args.devices)
        out["postgresql"] = pg_sizes(url, full=False)
        out["postgresql_compacted"] = pg_sizes(url, full=True)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    rows = out["rows"]
    assert isinstance(rows, dict)
    for kind in ("sqlite", "postgresql", "postgresql_compacted"):
        sizes = out[kind]
        assert isinstance(sizes, dict)
        out[f"{kind}_bytes_per_row"] = {t: round(sizes[t] / max(rows[t], 1), 1) for t in TABLES}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
