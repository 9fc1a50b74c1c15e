"""Helpers for the alert tests: meters whose readings go through ingest's real store, and
rules/channels made straight in the database."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from meterhub.context import AppContext
from meterhub.db.models import AlertChannel, AlertRule

# Ingest's database side: readings, rollups, counter events and last_seen exactly as the
# writer records them (the evaluator only ever reads what that committed).
from meterhub.ingest.messages import decode_message
from meterhub.services import devices, users
from meterhub.store import TelemetryStore


class Meters:
    """Register devices and write their readings the way ingest does."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.store = TelemetryStore(ctx.engine)
        self.ids: dict[str, int] = {}

    def add(self, serial: str, owner: int | None = None) -> int:
        with self.ctx.sessions() as db:
            device = devices.create(db, None, serial, name=serial)
            db.flush()
            if owner is not None:
                devices.assign(db, None, device, users.get(db, owner))
            db.commit()
            self.ids[serial] = device.id
            return device.id

    def send(self, serial: str, ts: float, **values: Any) -> None:
        reading = {"voltage": 230.0, "current": 1.0, "power": 230.0, "energy": 1.0}
        reading.update({"timestamp": ts, **values})
        self.write(serial, [reading])

    def write(self, serial: str, readings: list[dict[str, Any]]) -> None:
        payload = orjson.dumps({"serial_number": serial, "readings": readings})
        batch = decode_message(f"meter/{serial}/data", payload, readings[-1]["timestamp"])
        assert not batch.rejects, batch.rejects
        self.store.write(batch)


@pytest.fixture
def meters(ctx: AppContext) -> Meters:
    return Meters(ctx)


@pytest.fixture
def make_rule(ctx: AppContext) -> Any:
    def make(owner: int, **fields: Any) -> int:
        values: dict[str, Any] = {
            "name": "rule",
            "op": ">",
            "threshold": 0.5,
            "for_s": 0,
            "severity": "major",
            "tz": "UTC",
            "channel_ids": [],
        }
        values.update(fields)
        with ctx.sessions() as db:
            rule = AlertRule(owner_id=owner, **values)
            db.add(rule)
            db.commit()
            return rule.id

    return make


@pytest.fixture
def make_channel(ctx: AppContext) -> Any:
    def make(owner: int, kind: str, target: str, secret: str | None = None) -> int:
        with ctx.sessions() as db:
            channel = AlertChannel(
                owner_id=owner, name=kind, kind=kind, target=target, secret=secret
            )
            db.add(channel)
            db.commit()
            return channel.id

    return make


@pytest.fixture
def make_owner(ctx: AppContext) -> Any:
    def make(name: str, role: str = "user") -> int:
        with ctx.sessions() as db:
            user = users.create(db, None, name, f"{name}-pass-1234", role=role)
            db.commit()
            return user.id

    return make
