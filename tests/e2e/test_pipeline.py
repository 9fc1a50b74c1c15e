"""The real pipeline: virtual meters (the firmware under MicroPython) -> our own Mosquitto,
which goes away for 4 s -> `meterhub ingest` (a child process) -> the database. Every
reading arrives once, with no seq gap, and the rollups equal a recomputation. Then a
command sent through the API is executed and acknowledged by a virtual meter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meterhub.db.models import Device
from meterhub.firmware.paths import FirmwareError, tool
from meterhub.firmware.virtual import VirtualFleet, serial_for
from tests.support import Mosquitto, require, wait_for

from .conftest import Ingest, assert_rollups_match, contiguous, seqs

METERS = 2
COMMAND_SECRET = "e2e-pipeline-command-secret-0123456789"
INTERVAL_S = 1.0
OUTAGE_S = 4.0


def need_micropython() -> None:
    try:
        tool("micropython")
    except FirmwareError as exc:
        require(False, f"the MicroPython Unix port is needed for virtual meters: {exc}")


@pytest.fixture
def fleet(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[VirtualFleet]:
    need_micropython()
    meters = VirtualFleet(
        METERS,
        INTERVAL_S,
        mosquitto.url,
        workdir=tmp_path / "meters",
        fast=True,
        log=lambda _: None,
        command_secrets={serial_for(i): COMMAND_SECRET for i in range(METERS)},
    )
    meters.start()
    yield meters
    meters.stop()


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"{p.name}: {p.read_text()[-800:]}" for p in sorted(tmp_path.rglob("*.log")))


def test_outage_loses_nothing_and_commands_are_acked(
    mosquitto: Mosquitto,
    ingest: Ingest,
    fleet: VirtualFleet,
    ctx: Any,
    web_api: Any,
    tmp_path: Path,
) -> None:
    serials = [serial_for(i) for i in range(METERS)]

    def poll_counts(minimum: dict[str, int]) -> bool:
        fleet.poll()
        return all(len(seqs(ctx, s)) >= minimum[s] for s in serials)

    wait_for(
        lambda: poll_counts(dict.fromkeys(serials, 3)),
        30,
        "no readings stored before the outage:\n" + _logs(tmp_path),
        step=0.3,
    )
    mosquitto.stop()
    outage_start = time.monotonic()
    while time.monotonic() - outage_start < OUTAGE_S:
        fleet.poll()
        time.sleep(0.2)
    mosquitto.start()
    before = {s: len(seqs(ctx, s)) for s in serials}
    wanted = {s: before[s] + int(OUTAGE_S / INTERVAL_S) for s in serials}

    def caught_up() -> bool:
        fleet.poll()
        return all(contiguous(seqs(ctx, s)) and len(seqs(ctx, s)) >= wanted[s] for s in serials)

    wait_for(
        caught_up,
        40,
        f"readings missing after the outage: "
        f"{ {s: seqs(ctx, s) for s in serials} }\n{_logs(tmp_path)}",
        step=0.3,
    )

    # A command through the API, executed by the real firmware, acked through ingest.
    devices = {d["serial_number"]: d for d in web_api.get("/api/devices").json()}
    target = devices[serials[0]]
    assert target["status"] == "pending"  # unknown serials wait for approval; still reachable
    with ctx.sessions() as db:  # the meter's command key, as `firmware configure` stores it
        stored = db.get(Device, target["id"])
        assert stored is not None
        stored.command_secret = COMMAND_SECRET
        db.commit()
    url = f"/api/devices/{target['id']}/commands"
    sent = [
        web_api.post(url, json=body)
        for body in (
            {"cmd": "identify", "args": {"seconds": 1}},
            {"cmd": "set_interval", "args": {"seconds": 1}},
        )
    ]
    assert [r.status_code for r in sent] == [202, 202], [r.text for r in sent]

    def answered() -> list[dict[str, Any]] | None:
        fleet.poll()
        got = [web_api.get(f"{url}/{r.json()['id']}").json() for r in sent]
        return got if all(g["status"] != "pending" for g in got) else None

    results = wait_for(
        answered, 20, "no answer from the virtual meter:\n" + _logs(tmp_path), step=0.3
    )
    assert [(r["cmd"], r["status"], r["error"]) for r in results] == [
        ("identify", "acked", None),
        ("set_interval", "acked", None),
    ]
    log = (tmp_path / "meters" / f"{serials[0]}.log").read_text()
    assert "identify: LED blinks 3 times" in log

    fleet.stop()
    time.sleep(1.0)  # the last acknowledged readings reach the database
    for s in serials:
        values = seqs(ctx, s)
        assert contiguous(values), (s, values)
        assert len(values) == len(set(values)), f"{s}: duplicates"
        buckets = assert_rollups_match(ctx, s)
        print(
            f"{s}: {len(values)} readings, seq 1..{max(values)}, no gap, no duplicate, "
            f"{buckets} rollup bucket(s) equal a recomputation"
        )
    assert fleet.restarts == 0
