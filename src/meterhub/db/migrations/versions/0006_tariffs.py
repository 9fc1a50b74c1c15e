"""tariffs, devices.tariff_id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tariffs"),
        sa.UniqueConstraint("name", name="uq_tariffs_name"),
    )
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("tariff_id", sa.Integer(), nullable=True))
        batch.create_index("ix_devices_tariff_id", ["tariff_id"])
        batch.create_foreign_key(
            "fk_devices_tariff_id_tariffs", "tariffs", ["tariff_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint("fk_devices_tariff_id_tariffs", type_="foreignkey")
        batch.drop_index("ix_devices_tariff_id")
        batch.drop_column("tariff_id")
    op.drop_table("tariffs")
