"""OA approval forms (designer and built-in forms) and their requests

Revision ID: oa_0005
Revises: oa_0004
Create Date: 2026-12-01 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "oa_0005"
down_revision: str | Sequence[str] | None = "oa_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "oa_form",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("builtin_key", sa.String(length=40), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_form")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_oa_form_tenant_id_code")),
        sa.UniqueConstraint(
            "tenant_id", "builtin_key", name=op.f("uq_oa_form_tenant_id_builtin_key")
        ),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_form")

    op.create_table(
        "oa_form_version",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("form_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["created_by"], ["core_user.id"], name=op.f("fk_oa_form_version_created_by_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "form_id"],
            ["oa_form.tenant_id", "oa_form.id"],
            name=op.f("fk_oa_form_version_tenant_id_form_id_oa_form"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_form_version")),
        sa.UniqueConstraint(
            "tenant_id",
            "form_id",
            "version",
            name=op.f("uq_oa_form_version_tenant_id_form_id_version"),
        ),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_form_version")

    op.create_table(
        "oa_form_request",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("form_id", sa.Uuid(), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("approval_request_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'withdrawn')",
            name=op.f("ck_oa_form_request_status"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["core_user.id"],
            name=op.f("fk_oa_form_request_requester_id_core_user"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "form_id"],
            ["oa_form.tenant_id", "oa_form.id"],
            name=op.f("fk_oa_form_request_tenant_id_form_id_oa_form"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "form_id", "form_version"],
            [
                "oa_form_version.tenant_id",
                "oa_form_version.form_id",
                "oa_form_version.version",
            ],
            name="fk_oa_form_request_form_version",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "approval_request_id"],
            ["core_approval_request.tenant_id", "core_approval_request.id"],
            name=op.f("fk_oa_form_request_tenant_id_approval_request_id_core_approval_request"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_form_request")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_form_request")
    op.create_index(
        "ix_oa_form_request_form_id", "oa_form_request", ["tenant_id", "form_id"], unique=False
    )
    op.create_index(
        "ix_oa_form_request_requester",
        "oa_form_request",
        ["tenant_id", "requester_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("oa_form_request")
    op.drop_table("oa_form_version")
    op.drop_table("oa_form")
