"""OA approvals: reminders repeated while a step still waits

Revision ID: oa_0008
Revises: oa_0007
Create Date: 2026-12-01 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "oa_0008"
down_revision: str | Sequence[str] | None = "oa_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0: remind once, as before; existing workspaces keep that.
    op.add_column(
        "oa_approval_settings",
        sa.Column("remind_every_hours", sa.Integer(), nullable=False, server_default="0"),
    )
    op.alter_column("oa_approval_settings", "remind_every_hours", server_default=None)
    op.create_check_constraint(
        op.f("ck_oa_approval_settings_remind_every_hours"),
        "oa_approval_settings",
        "remind_every_hours BETWEEN 0 AND 720",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_oa_approval_settings_remind_every_hours"), "oa_approval_settings", type_="check"
    )
    op.drop_column("oa_approval_settings", "remind_every_hours")
