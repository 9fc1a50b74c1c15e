"""Migration 0008 (device MQTT accounts) on both databases: an install from before
device accounts keeps its devices (protocol `meterhub`, no account), matches the models,
and downgrades cleanly."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from meterhub.db.engine import make_engine
from meterhub.db.migrate import alembic_config, upgrade
from meterhub.db.models import Base
from meterhub.services.device_credentials import without_credentials


def test_existing_devices_survive_and_have_no_account(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    for table in reversed(Base.metadata.sorted_tables):
        table.drop(engine, checkfirst=True)
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO devices (serial_number, status, online, reading_interval_s, "
                "created_at, updated_at) VALUES ('OLD-1', 'active', false, 10, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT protocol, mqtt_password_hash FROM devices WHERE serial_number='OLD-1'")
        ).one()
        assert tuple(row) == ("meterhub", None)
        diffs = [
            d
            for d in compare_metadata(MigrationContext.configure(conn), Base.metadata)
            if "devices" in str(d)
        ]
    assert diffs == []
    with Session(engine) as db:
        assert without_credentials(db) == ["OLD-1"]
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    columns: Any = {c["name"] for c in inspect(engine).get_columns("devices")}
    assert "mqtt_password_hash" not in columns and "protocol" not in columns
    upgrade(engine)
    engine.dispose()
