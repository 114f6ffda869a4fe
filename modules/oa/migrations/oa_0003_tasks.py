"""OA tasks, subtasks and comments

Revision ID: oa_0003
Revises: oa_0002
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "oa_0003"
down_revision: str | Sequence[str] | None = "oa_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oa_task",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=False),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("record_type", sa.String(length=63), nullable=True),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('todo', 'in_progress', 'done', 'canceled')",
            name=op.f("ck_oa_task_status"),
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("ck_oa_task_priority")
        ),
        sa.CheckConstraint(
            "(record_type IS NULL) = (record_id IS NULL)", name=op.f("ck_oa_task_record")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["core_user.id"], name=op.f("fk_oa_task_assignee_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["core_user.id"], name=op.f("fk_oa_task_creator_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "parent_id"],
            ["oa_task.tenant_id", "oa_task.id"],
            name=op.f("fk_oa_task_tenant_id_parent_id_oa_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_task")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_task")
    op.create_index(
        "ix_oa_task_assignee",
        "oa_task",
        ["tenant_id", "assignee_id", "status", "due_on"],
        unique=False,
    )
    op.create_index(
        "ix_oa_task_creator", "oa_task", ["tenant_id", "creator_id", "status"], unique=False
    )
    op.create_index(
        "ix_oa_task_due",
        "oa_task",
        ["tenant_id", "due_on"],
        unique=False,
        postgresql_where="status IN ('todo', 'in_progress')",
    )
    op.create_index("ix_oa_task_parent_id", "oa_task", ["tenant_id", "parent_id"], unique=False)
    op.create_index(
        "ix_oa_task_record", "oa_task", ["tenant_id", "record_type", "record_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("oa_task")
