# ruff: noqa: F811 - the cli and db fixtures come from test_cli
"""`meterhub import FILE --serial S`: back-fill older than the late window goes through the
decoder and store (rollups follow); bad lines are counted and named by line; a second run
stores nothing twice; a reading naming another serial is refused; an unknown device is a
one-line error. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from meterhub.db.models import Device, IngestReject, Rollup1d
from tests.cli.test_cli import assert_one_line_error, cli, db  # noqa: F401 - fixtures

DAY = 86_400


def test_import_csv_back_fills_past_the_late_window(cli: Any, db: Any, tmp_path: Path) -> None:
    assert cli("devices", "add", "PZEM-IMP").exit_code == 0
    day = (time.time() - 60 * DAY) // DAY * DAY
    path = tmp_path / "history.csv"
    path.write_text(
        "timestamp,voltage,current,power,energy,pf\n"
        f"{day + 600},230.1,1.0,230.0,10.0,0.95\n"
        f"{day + 660},230.2,1.0,230.0,10.5,\n"
        f"{day + 720},abc,1.0,230.0,10.6,0.95\n"
    )
    first = cli("import", str(path), "--serial", "PZEM-IMP")
    assert first.exit_code == 2, first.output
    assert "3 readings read, 2 stored, 0 already there, 1 rejected" in first.stdout
    assert "wrong_type: 1" in first.stdout and "line 4: wrong_type" in first.stderr
    device = db.scalar(select(Device).where(Device.serial_number == "PZEM-IMP"))
    daily = db.scalars(select(Rollup1d).where(Rollup1d.device_id == device.id)).all()
    assert [(r.bucket, r.count, r.energy_wh) for r in daily] == [(int(day), 2, 500)]
    again = cli("import", str(path), "--serial", "PZEM-IMP")
    assert "3 readings read, 0 stored, 2 already there, 1 rejected" in again.stdout


def test_import_json_lines_binds_to_the_device(cli: Any, db: Any, tmp_path: Path) -> None:
    assert cli("devices", "add", "PZEM-IMP2").exit_code == 0
    now = time.time()
    lines = [
        {"timestamp": now - 40 * DAY, "voltage": 230.0, "current": 1.0, "power": 1.0, "energy": 1},
        {
            "serial_number": "PZEM-OTHER",
            "timestamp": now - 40 * DAY + 60,
            "voltage": 230.0,
            "current": 1.0,
            "power": 1.0,
            "energy": 1,
        },
    ]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n\n")
    result = cli("import", str(path), "--serial", "PZEM-IMP2")
    assert "2 readings read, 1 stored" in result.stdout, result.output
    assert db.scalar(select(Device).where(Device.serial_number == "PZEM-OTHER")) is None
    assert [r.reason for r in db.scalars(select(IngestReject))] == ["serial_mismatch"]


def test_import_needs_a_known_device(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp,voltage,current,power,energy\n")
    assert_one_line_error(cli("import", str(path), "--serial", "NOPE-1"), "NOPE-1")
    assert_one_line_error(cli("import", str(tmp_path / "missing.csv"), "--serial", "X"), "no such")
