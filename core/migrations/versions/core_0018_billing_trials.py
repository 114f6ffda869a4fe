"""billing: trials, one per module per workspace, ever

Revision ID: core_0018
Revises: core_0017
Create Date: 2026-12-01 13:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0018"
down_revision: str | Sequence[str] | None = "core_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_trial",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("module_key", sa.String(length=31), nullable=False),
        sa.Column("started_by", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ends_at > started_at", name=op.f("ck_billing_trial_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["started_by"],
            ["core_user.id"],
            name=op.f("fk_billing_trial_started_by_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_billing_trial")),
        # Once per workspace and module, ever: the rule itself, not just an index.
        sa.UniqueConstraint(
            "tenant_id", "module_key", name=op.f("uq_billing_trial_tenant_id_module_key")
        ),
    )
    op.enable_tenant_rls("billing_trial")


def downgrade() -> None:
    op.drop_table("billing_trial")
