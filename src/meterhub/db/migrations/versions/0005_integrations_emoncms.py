"""Integrations: Emoncms targets and their per-device cursors

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from meterhub.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emoncms_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("base_url", sa.String(512), nullable=False),
        sa.Column("api_key_enc", sa.Text(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("forwarded", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name="fk_emoncms_targets_device_id_devices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_emoncms_targets"),
        sa.UniqueConstraint("name", name="uq_emoncms_targets_name"),
    )
    op.create_index("ix_emoncms_targets_device_id", "emoncms_targets", ["device_id"])
    op.create_table(
        "emoncms_cursors",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["emoncms_targets.id"],
            name="fk_emoncms_cursors_target_id_emoncms_targets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name="fk_emoncms_cursors_device_id_devices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("target_id", "device_id", name="pk_emoncms_cursors"),
    )


def downgrade() -> None:
    op.drop_table("emoncms_cursors")
    op.drop_index("ix_emoncms_targets_device_id", table_name="emoncms_targets")
    op.drop_table("emoncms_targets")
