"""Write history (simulator backfill, demo data) straight through the ingest path: the same
decoder and validation, the same store and rollups, without the network."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from meterhub.protocol.readings import decode_data
from meterhub.store import Batch, TelemetryStore

READINGS_PER_MESSAGE = 200  # a v1 reading is ~250 bytes: well inside the 64 KiB limit


def history_writer(store: TelemetryStore) -> Callable[[list[dict[str, Any]]], None]:
    """A callable that stores one chunk of v1 reading dicts (any mix of meters)."""

    def write(chunk: list[dict[str, Any]]) -> None:
        by_serial: dict[str, list[dict[str, Any]]] = {}
        for item in chunk:
            by_serial.setdefault(str(item.get("serial_number")), []).append(item)
        batch = Batch()
        now = time.time()
        for serial, items in by_serial.items():
            for start in range(0, len(items), READINGS_PER_MESSAGE):
                payload = orjson.dumps(
                    {
                        "serial_number": serial,
                        "readings": items[start : start + READINGS_PER_MESSAGE],
                    }
                )
                decoded = decode_data(f"meter/{serial}/data", payload, now)
                batch.readings.extend(decoded.readings)
                batch.rejects.extend(decoded.rejects)
        store.write(batch)

    return write
