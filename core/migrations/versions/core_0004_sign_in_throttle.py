"""sign-in throttle

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-23 05:54:08.465001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0004"
down_revision: str | Sequence[str] | None = "core_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_sign_in_throttle",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_sign_in_throttle")),
        sa.UniqueConstraint("key", name=op.f("uq_core_sign_in_throttle_key")),
        info={"tenancy": "global", "module": "core"},
    )


def downgrade() -> None:
    op.drop_table("core_sign_in_throttle")
