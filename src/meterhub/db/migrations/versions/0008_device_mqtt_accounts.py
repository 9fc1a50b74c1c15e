"""devices: MQTT account (password hash, when issued) and protocol

Existing devices get no credentials: an admin issues them (`meterhub devices
credentials SERIAL` or the dashboard); until then the embedded broker refuses them and
says so in its log.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import meterhub.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("protocol", sa.String(16), nullable=False, server_default="meterhub")
        )
        batch.add_column(sa.Column("mqtt_password_hash", sa.String(160), nullable=True))
        batch.add_column(
            sa.Column(
                "mqtt_credentials_at", meterhub.db.types.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("mqtt_credentials_at")
        batch.drop_column("mqtt_password_hash")
        batch.drop_column("protocol")
