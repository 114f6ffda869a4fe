"""OA approvals: flow templates, versions, instances, tasks, timeline

Revision ID: oa_0001
Revises:
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "oa_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("oa",)
depends_on: str | Sequence[str] | None = "core_0020"


def upgrade() -> None:
    op.create_table(
        "oa_approval_flow",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_approval_flow")),
        sa.UniqueConstraint("tenant_id", "kind", name=op.f("uq_oa_approval_flow_tenant_id_kind")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_approval_flow")
    op.create_table(
        "oa_approval_flow_version",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("steps", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cc_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("missing_approver", sa.String(length=10), nullable=False),
        sa.Column("auto_approve_repeat", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "missing_approver IN ('skip', 'admins')",
            name=op.f("ck_oa_approval_flow_version_missing_approver"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["core_user.id"],
            name=op.f("fk_oa_approval_flow_version_created_by_core_user"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "flow_id"],
            ["oa_approval_flow.tenant_id", "oa_approval_flow.id"],
            name=op.f("fk_oa_approval_flow_version_tenant_id_flow_id_oa_approval_flow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_approval_flow_version")),
        sa.UniqueConstraint(
            "tenant_id",
            "flow_id",
            "version",
            name=op.f("uq_oa_approval_flow_version_tenant_id_flow_id_version"),
        ),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_approval_flow_version")
    op.create_table(
        "oa_approval_instance",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("flow_version_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=63), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("plan", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("urged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'returned', 'approved', 'rejected', 'withdrawn')",
            name=op.f("ck_oa_approval_instance_status"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["core_user.id"],
            name=op.f("fk_oa_approval_instance_requester_id_core_user"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "flow_version_id"],
            ["oa_approval_flow_version.tenant_id", "oa_approval_flow_version.id"],
            name=op.f("fk_oa_approval_instance_tenant_id_flow_version_id_oa_approval_flow_version"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "request_id"],
            ["core_approval_request.tenant_id", "core_approval_request.id"],
            name=op.f("fk_oa_approval_instance_tenant_id_request_id_core_approval_request"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_approval_instance")),
        sa.UniqueConstraint(
            "tenant_id", "request_id", name=op.f("uq_oa_approval_instance_tenant_id_request_id")
        ),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_approval_instance")
    op.create_index(
        "ix_oa_approval_instance_flow_version_id",
        "oa_approval_instance",
        ["tenant_id", "flow_version_id"],
        unique=False,
    )
    op.create_index(
        "ix_oa_approval_instance_requester",
        "oa_approval_instance",
        ["tenant_id", "requester_id", "id"],
        unique=False,
    )
    op.create_table(
        "oa_approval_task",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('approve', 'cc')", name=op.f("ck_oa_approval_task_role")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'cancelled', 'transferred', 'copied')",
            name=op.f("ck_oa_approval_task_status"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["core_user.id"],
            name=op.f("fk_oa_approval_task_assignee_id_core_user"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "instance_id"],
            ["oa_approval_instance.tenant_id", "oa_approval_instance.id"],
            name=op.f("fk_oa_approval_task_tenant_id_instance_id_oa_approval_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_approval_task")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_approval_task")
    op.create_index(
        "ix_oa_approval_task_inbox",
        "oa_approval_task",
        ["tenant_id", "assignee_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_oa_approval_task_instance_id",
        "oa_approval_task",
        ["tenant_id", "instance_id"],
        unique=False,
    )
    op.create_index(
        "uq_oa_approval_task_open",
        "oa_approval_task",
        ["tenant_id", "instance_id", "step", "assignee_id"],
        unique=True,
        postgresql_where="status = 'pending'",
    )
    op.create_table(
        "oa_approval_action",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
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
            ["actor_id"], ["core_user.id"], name=op.f("fk_oa_approval_action_actor_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["core_user.id"], name=op.f("fk_oa_approval_action_target_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "instance_id"],
            ["oa_approval_instance.tenant_id", "oa_approval_instance.id"],
            name=op.f("fk_oa_approval_action_tenant_id_instance_id_oa_approval_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_approval_action")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_approval_action")
    op.create_index(
        "ix_oa_approval_action_instance",
        "oa_approval_action",
        ["tenant_id", "instance_id", "id"],
        unique=False,
    )
    op.create_table(
        "oa_approval_delegation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("delegate_id", sa.Uuid(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_oa_approval_delegation_dates")),
        sa.CheckConstraint(
            "user_id <> delegate_id", name=op.f("ck_oa_approval_delegation_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["delegate_id"],
            ["core_user.id"],
            name=op.f("fk_oa_approval_delegation_delegate_id_core_user"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_oa_approval_delegation_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_approval_delegation")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_approval_delegation")
    op.create_index(
        "ix_oa_approval_delegation_user",
        "oa_approval_delegation",
        ["tenant_id", "user_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("oa_approval_delegation")
    op.drop_table("oa_approval_action")
    op.drop_table("oa_approval_task")
    op.drop_table("oa_approval_instance")
    op.drop_table("oa_approval_flow_version")
    op.drop_table("oa_approval_flow")
