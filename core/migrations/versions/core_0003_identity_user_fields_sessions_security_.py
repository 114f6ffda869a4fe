"""identity: user fields, sessions, security log

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-23 05:51:00.080830
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0003"
down_revision: str | Sequence[str] | None = "core_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_security_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=63), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_security_log_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_security_log")),
        info={"append_only": True, "tenancy": "global", "module": "core"},
    )
    op.create_index(
        "ix_core_security_log_user_id_at", "core_security_log", ["user_id", "at"], unique=False
    )
    op.create_table(
        "core_user_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_user_session_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_user_session_token_hash")),
        info={"tenancy": "global", "module": "core"},
    )
    op.create_index("ix_core_user_session_user_id", "core_user_session", ["user_id"], unique=False)
    op.add_column(
        "core_user",
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
    )
    op.add_column("core_user", sa.Column("avatar", sa.String(length=300), nullable=True))
    op.add_column("core_user", sa.Column("password_hash", sa.String(length=200), nullable=True))
    op.add_column(
        "core_user", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("core_user", "email_verified_at")
    op.drop_column("core_user", "password_hash")
    op.drop_column("core_user", "avatar")
    op.drop_column("core_user", "time_zone")
    op.drop_index("ix_core_user_session_user_id", table_name="core_user_session")
    op.drop_table("core_user_session")
    op.drop_index("ix_core_security_log_user_id_at", table_name="core_security_log")
    op.drop_table("core_security_log")
