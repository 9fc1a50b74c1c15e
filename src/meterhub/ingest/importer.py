"""`meterhub import`: deliberate back-fill of one device's readings from a file.

CSV (a header row naming the reading keys of protocol v1: ``timestamp``, ``voltage``,
``current``, ``power``, ``energy``, optional ``frequency``, ``pf``, ``seq``, ...) or JSON
lines (one v1 reading object a line). The readings go through the same decoder, the same
binding and the same store as ingest's, as messages on the device's own data topic; only
the late window does not apply (that is what an import is for). Lines that fail are
dead letters like any reject, and are counted and listed in the report."""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from meterhub.ingest.messages import decode_message
from meterhub.store import Batch, TelemetryStore

CHUNK: Final = 200  # readings per message: well inside the payload limit
TEXT_KEYS: Final = frozenset({"timestamp", "firmware_version", "ip_address", "serial_number"})


@dataclass(slots=True)
class ImportReport:
    """What an import did."""

    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # the first few rejects, with lines


def import_file(store: TelemetryStore, path: Path, serial: str) -> ImportReport:
    """Store the readings in `path` (CSV or JSON lines, by its suffix) as `serial`'s."""
    report = ImportReport()
    topic = f"meter/{serial}/data"
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _json_rows(path)
    chunk: list[tuple[int, Any]] = []
    for number, item in rows:
        report.lines += 1
        chunk.append((number, item))
        if len(chunk) == CHUNK:
            _write(store, topic, chunk, report)
            chunk = []
    if chunk:
        _write(store, topic, chunk, report)
    return report


def _write(
    store: TelemetryStore, topic: str, chunk: list[tuple[int, Any]], report: ImportReport
) -> None:
    payload = orjson.dumps({"readings": [item for _, item in chunk]})
    batch: Batch = decode_message(topic, payload, time.time())  # no late window
    result = store.write(batch)
    report.stored += result.stored
    report.duplicates += result.duplicates
    for reject in batch.rejects:
        report.rejected[reject.reason] += 1
        if len(report.examples) < 10:
            line = chunk[reject.index][0] if reject.index is not None else chunk[0][0]
            report.examples.append(f"line {line}: {reject.reason}: {reject.detail}")
    # Rejects the store adds (serial_mismatch, too_many_pending) are counted by it.
    extra = result.rejected - len(batch.rejects)
    if extra > 0:
        report.rejected["refused by the store"] += extra


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield (
                reader.line_num,
                {
                    key.strip(): _cell(key.strip(), value)
                    for key, value in row.items()
                    if key and value is not None and value.strip() != ""
                },
            )


def _cell(key: str, value: str) -> Any:
    """A CSV cell as JSON would have it: numbers as numbers (the decoder checks them)."""
    value = value.strip()
    if key in TEXT_KEYS:
        try:
            return float(value) if key == "timestamp" else value
        except ValueError:
            return value  # an ISO-8601 time
    try:
        return int(value) if key == "seq" else float(value)
    except ValueError:
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value  # the decoder says what is wrong with it


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError:
                yield number, line.decode("utf-8", "replace").strip()  # rejected: not an object
