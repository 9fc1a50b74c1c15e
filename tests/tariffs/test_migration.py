"""Migration 0006 makes exactly the schema the models describe for tariffs (both databases)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from meterhub.db.models import Base


def test_tariff_schema_matches_the_models(ctx: Any) -> None:
    with ctx.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if "tariff" in repr(d)]
    assert ours == []
