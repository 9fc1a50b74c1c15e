"""hourly and daily rollups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WIDTHS = {"rollups_1h": 3600, "rollups_1d": 86400}
SUMS = (
    "count",
    "energy_wh",
    "voltage_sum",
    "current_sum",
    "power_sum",
    "pf_sum",
    "pf_count",
    "frequency_sum",
    "frequency_count",
)
MINS = ("voltage_min", "power_min")
MAXES = ("voltage_max", "power_max", "current_max")


def _columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        *(
            sa.Column(c, sa.Float(), nullable=False)
            for c in (
                "voltage_min",
                "voltage_max",
                "voltage_sum",
                "current_sum",
                "current_max",
                "power_sum",
                "power_min",
                "power_max",
                "pf_sum",
            )
        ),
        sa.Column("pf_count", sa.Integer(), nullable=False),
        sa.Column("frequency_sum", sa.Float(), nullable=False),
        sa.Column("frequency_count", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    for table, width in WIDTHS.items():
        op.create_table(
            table,
            *_columns(),
            sa.ForeignKeyConstraint(
                ["device_id"],
                ["devices.id"],
                name=op.f(f"fk_{table}_device_id_devices"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("device_id", "bucket", name=op.f(f"pk_{table}")),
        )
        # Fill from the 15-minute rollup (identifiers are constants above, not input).
        aggregates = ", ".join(
            [
                *(f"sum({c})" for c in SUMS),
                *(f"min({c})" for c in MINS),
                *(f"max({c})" for c in MAXES),
            ]
        )
        columns = ", ".join([*SUMS, *MINS, *MAXES])
        op.execute(
            f"INSERT INTO {table} (device_id, bucket, slots, {columns}) "  # noqa: S608
            f"SELECT device_id, (bucket / {width}) * {width}, count(*), {aggregates} "
            f"FROM rollups_15m GROUP BY device_id, (bucket / {width}) * {width}"
        )


def downgrade() -> None:
    for table in WIDTHS:
        op.drop_table(table)
