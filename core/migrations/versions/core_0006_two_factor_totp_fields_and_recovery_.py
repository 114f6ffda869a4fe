"""two-factor: TOTP fields and recovery codes

Revision ID: core_0006
Revises: core_0005
Create Date: 2026-11-23 06:04:56.150263
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0006"
down_revision: str | Sequence[str] | None = "core_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_recovery_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_recovery_code_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_recovery_code")),
        sa.UniqueConstraint(
            "user_id", "code_hash", name=op.f("uq_core_recovery_code_user_id_code_hash")
        ),
        info={"tenancy": "global", "module": "core"},
    )
    op.add_column("core_user", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column(
        "core_user", sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("core_user", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("core_user", "totp_last_step")
    op.drop_column("core_user", "totp_enabled_at")
    op.drop_column("core_user", "totp_secret")
    op.drop_table("core_recovery_code")
