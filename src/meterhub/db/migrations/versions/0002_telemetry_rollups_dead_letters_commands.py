"""telemetry: rollups, dead letters, commands

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 17:37:44.629468
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterhub.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ingest_counters")),
    )
    op.create_table(
        "ingest_rejects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ts", meterhub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=512), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_rejects")),
    )
    with op.batch_alter_table("ingest_rejects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_rejects_reason"), ["reason"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_rejects_ts"), ["ts"], unique=False)

    op.create_table(
        "device_commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("cmd", sa.String(length=32), nullable=False),
        sa.Column(
            "args",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", meterhub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", meterhub.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", meterhub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_device_commands_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_commands_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_commands")),
    )
    with op.batch_alter_table("device_commands", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_commands_device_id"), ["device_id"], unique=False
        )

    op.create_table(
        "rollups_15m",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("energy_wh", sa.BigInteger(), nullable=False),
        sa.Column("voltage_min", sa.Float(), nullable=False),
        sa.Column("voltage_max", sa.Float(), nullable=False),
        sa.Column("voltage_sum", sa.Float(), nullable=False),
        sa.Column("current_sum", sa.Float(), nullable=False),
        sa.Column("current_max", sa.Float(), nullable=False),
        sa.Column("power_sum", sa.Float(), nullable=False),
        sa.Column("power_min", sa.Float(), nullable=False),
        sa.Column("power_max", sa.Float(), nullable=False),
        sa.Column("pf_sum", sa.Float(), nullable=False),
        sa.Column("pf_count", sa.Integer(), nullable=False),
        sa.Column("frequency_sum", sa.Float(), nullable=False),
        sa.Column("frequency_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_rollups_15m_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "bucket", name=op.f("pk_rollups_15m")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_power", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("last_energy", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_table("ingest_counters")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("last_energy")
        batch_op.drop_column("last_power")

    op.drop_table("rollups_15m")
    with op.batch_alter_table("device_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_commands_device_id"))

    op.drop_table("device_commands")
    with op.batch_alter_table("ingest_rejects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_rejects_ts"))
        batch_op.drop_index(batch_op.f("ix_ingest_rejects_reason"))

    op.drop_table("ingest_rejects")
