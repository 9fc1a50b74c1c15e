"""devices.topic_id: unique, set by admins only (no longer learned from messages)

Topic ids learned before this revision stay, except those that could bind a message to
the wrong device: one shared by several devices, or one that is another device's serial
(those are cleared; an admin sets them again where they were right).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    devices = sa.table(
        "devices",
        sa.column("id", sa.Integer),
        sa.column("serial_number", sa.String),
        sa.column("topic_id", sa.String),
    )
    other = devices.alias("other")
    shared = sa.select(other.c.id).where(
        other.c.id != devices.c.id,
        (other.c.topic_id == devices.c.topic_id) | (other.c.serial_number == devices.c.topic_id),
    )
    conn = op.get_bind()
    ambiguous = list(  # chosen first: an UPDATE would see its own earlier rows on SQLite
        conn.execute(
            sa.select(devices.c.id).where(devices.c.topic_id.is_not(None), sa.exists(shared))
        ).scalars()
    )
    if ambiguous:
        op.execute(sa.update(devices).where(devices.c.id.in_(ambiguous)).values(topic_id=None))
    op.execute(
        sa.update(devices)
        .where(devices.c.topic_id == devices.c.serial_number)
        .values(topic_id=None)
    )
    with op.batch_alter_table("devices") as batch:
        batch.create_unique_constraint(batch.f("uq_devices_topic_id"), ["topic_id"])


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint(batch.f("uq_devices_topic_id"), type_="unique")
