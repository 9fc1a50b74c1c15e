"""accounts hardening: second factor, token scopes, session re-auth time, login attempts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterhub.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column(
                "totp_recovery",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column(
                "authenticated_at", meterhub.db.types.UTCDateTime(timezone=True), nullable=True
            )
        )
    # Tokens made before scopes existed had full admin power: they keep it (their owners
    # were admins), and the listing shows it so that they can be replaced.
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scope", sa.String(8), nullable=False, server_default="admin"))
    op.create_table(
        "login_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("ts", meterhub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_key_ts", "login_attempts", ["key", "ts"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_key_ts", table_name="login_attempts")
    op.drop_table("login_attempts")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("authenticated_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_recovery")
        batch.drop_column("totp_secret")
