"""billing: reconciliation and revenue

Revision ID: core_0020
Revises: core_0019
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0020"
down_revision: str | Sequence[str] | None = "core_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        server_default=sa.text("now()"),
        nullable=False,
    )


def _run_ref(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"],
        ["billing_reconcile_run.id"],
        name=op.f(f"fk_{table}_run_id_billing_reconcile_run"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "billing_reconcile_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("repaired", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_reconcile_run")),
        info={"tenancy": "global", "module": "billing"},
    )
    op.create_index(
        op.f("ix_billing_reconcile_run_started_at"),
        "billing_reconcile_run",
        ["started_at"],
        unique=False,
    )
    op.create_table(
        "billing_repair",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("module_key", sa.String(length=31), nullable=True),
        sa.Column("aspect", sa.String(length=31), nullable=False),
        sa.Column("before", sa.String(length=255), nullable=True),
        sa.Column("after", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=31), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        _created_at(),
        _run_ref("billing_repair"),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["core_tenant.id"],
            name=op.f("fk_billing_repair_workspace_id_core_tenant"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_repair")),
        info={"tenancy": "global", "module": "billing"},
    )
    op.create_index(op.f("ix_billing_repair_run_id"), "billing_repair", ["run_id"], unique=False)
    op.create_index(
        op.f("ix_billing_repair_workspace_id"), "billing_repair", ["workspace_id"], unique=False
    )
    op.create_table(
        "billing_revenue_snapshot",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("mrr", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("subscriptions", sa.Integer(), nullable=False),
        _created_at(),
        _run_ref("billing_revenue_snapshot"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_revenue_snapshot")),
        sa.UniqueConstraint(
            "run_id", "currency", name=op.f("uq_billing_revenue_snapshot_run_id_currency")
        ),
        info={"tenancy": "global", "module": "billing"},
    )


def downgrade() -> None:
    op.drop_table("billing_revenue_snapshot")
    op.drop_index(op.f("ix_billing_repair_workspace_id"), table_name="billing_repair")
    op.drop_index(op.f("ix_billing_repair_run_id"), table_name="billing_repair")
    op.drop_table("billing_repair")
    op.drop_index(op.f("ix_billing_reconcile_run_started_at"), table_name="billing_reconcile_run")
    op.drop_table("billing_reconcile_run")
