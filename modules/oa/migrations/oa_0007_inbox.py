"""OA approvals inbox: the workspace's waiting-step reminder setting

Revision ID: oa_0007
Revises: oa_0006
Create Date: 2026-12-01 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "oa_0007"
down_revision: str | Sequence[str] | None = "oa_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oa_approval_settings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("remind_after_hours", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "remind_after_hours BETWEEN 0 AND 720",
            name=op.f("ck_oa_approval_settings_remind_after_hours"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_approval_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_oa_approval_settings_tenant_id")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_approval_settings")
    # The reminder job's claim marker (services/approval_reminders.py).
    op.add_column(
        "oa_approval_task", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("oa_approval_task", "reminded_at")
    op.drop_table("oa_approval_settings")
