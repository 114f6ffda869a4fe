"""numbering series and counters, audit log

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-11-23 05:45:46.488649
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0002"
down_revision: str | Sequence[str] | None = "core_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_number_counter",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("doc_type", sa.String(length=63), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_number_counter")),
        sa.UniqueConstraint(
            "tenant_id",
            "doc_type",
            "period",
            name=op.f("uq_core_number_counter_tenant_id_doc_type_period"),
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_number_counter")
    op.create_table(
        "core_number_series",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("doc_type", sa.String(length=63), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=False),
        sa.Column("pattern", sa.String(length=100), nullable=False),
        sa.Column("gapless", sa.Boolean(), nullable=False),
        sa.Column("yearly_reset", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_number_series")),
        sa.UniqueConstraint(
            "tenant_id", "doc_type", name=op.f("uq_core_number_series_tenant_id_doc_type")
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_number_series")
    op.create_table(
        "core_audit_log",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=63), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("subject_type", sa.String(length=63), nullable=True),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
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
            ["actor_id"], ["core_user.id"], name=op.f("fk_core_audit_log_actor_id_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_audit_log")),
        info={"append_only": True, "tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_audit_log")
    op.create_index(
        "ix_core_audit_log_tenant_id_action_at",
        "core_audit_log",
        ["tenant_id", "action", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_core_audit_log_tenant_id_action_at", table_name="core_audit_log")
    op.drop_table("core_audit_log")
    op.drop_table("core_number_series")
    op.drop_table("core_number_counter")
