"""Migration 0012: topic ids learned before it stay, unless they could bind a message to
the wrong device (shared by several devices, another device's serial, or the device's own
serial); then devices.topic_id is unique and equals the models. (A fresh SQLite file: the
per-test databases are already at head.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from meterhub.db.engine import make_engine
from meterhub.db.migrate import upgrade
from meterhub.db.models import Base


def test_ambiguous_learned_topic_ids_are_cleared_then_unique(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "0011")
    insert = text(
        "INSERT INTO devices (serial_number, topic_id, status, online, reading_interval_s, "
        "created_at, updated_at) VALUES (:s, :t, 'active', false, 10, '2026-01-01', "
        "'2026-01-01')"
    )
    with engine.begin() as conn:
        for serial, topic_id in [("A", "X"), ("B", "X"), ("C", "A"), ("D", "D"), ("E", "Y")]:
            conn.execute(insert, {"s": serial, "t": topic_id})
    upgrade(engine)
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT serial_number, topic_id FROM devices ORDER BY 1")).all()
        assert [tuple(r) for r in kept] == [
            ("A", None),
            ("B", None),
            ("C", None),
            ("D", None),
            ("E", "Y"),
        ]
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"s": "F", "t": "Y"})
    engine.dispose()
