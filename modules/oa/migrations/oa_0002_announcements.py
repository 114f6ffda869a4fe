"""OA announcements and read receipts

Revision ID: oa_0002
Revises: oa_0001
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "oa_0002"
down_revision: str | Sequence[str] | None = "oa_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oa_announcement",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("everyone", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'withdrawn')", name=op.f("ck_oa_announcement_status")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["core_user.id"], name=op.f("fk_oa_announcement_author_id_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_announcement")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_announcement")
    op.create_index(
        "ix_oa_announcement_listed",
        "oa_announcement",
        ["tenant_id", "status", "pinned", "published_at"],
        unique=False,
    )
    op.create_table(
        "oa_announcement_department",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "announcement_id"],
            ["oa_announcement.tenant_id", "oa_announcement.id"],
            name=op.f("fk_oa_announcement_department_tenant_id_announcement_id_f626"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "department_id"],
            ["core_department.tenant_id", "core_department.id"],
            name=op.f("fk_oa_announcement_department_tenant_id_department_id_c_12da"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_announcement_department")),
        sa.UniqueConstraint(
            "tenant_id",
            "announcement_id",
            "department_id",
            name=op.f("uq_oa_announcement_department_tenant_id_announcement_id_e8ae"),
        ),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_announcement_department")
    op.create_index(
        "ix_oa_announcement_department_department_id",
        "oa_announcement_department",
        ["tenant_id", "department_id"],
        unique=False,
    )
    op.create_table(
        "oa_announcement_read",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "announcement_id"],
            ["oa_announcement.tenant_id", "oa_announcement.id"],
            name=op.f("fk_oa_announcement_read_tenant_id_announcement_id_oa_an_68da"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_oa_announcement_read_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_announcement_read")),
        sa.UniqueConstraint(
            "tenant_id",
            "announcement_id",
            "user_id",
            name=op.f("uq_oa_announcement_read_tenant_id_announcement_id_user_id"),
        ),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_announcement_read")


def downgrade() -> None:
    op.drop_table("oa_announcement_read")
    op.drop_index(
        "ix_oa_announcement_department_department_id", table_name="oa_announcement_department"
    )
    op.drop_table("oa_announcement_department")
    op.drop_index("ix_oa_announcement_listed", table_name="oa_announcement")
    op.drop_table("oa_announcement")
