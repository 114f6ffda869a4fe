"""OA documents: folders, permissions, files and versions

Revision ID: oa_0006
Revises: oa_0005
Create Date: 2026-12-01 19:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "oa_0006"
down_revision: str | Sequence[str] | None = "oa_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _key() -> list[sa.Column]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
    ]


def _tenant_fk(column: str, target: str, name: str, **kw: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"], name=op.f(name), **kw
    )


def upgrade() -> None:
    op.create_table(
        "oa_document_folder",
        *_key(),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        _created_at(),
        _tenant_fk(
            "parent_id",
            "oa_document_folder",
            "fk_oa_document_folder_tenant_id_parent_id_oa_document_folder",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["core_user.id"],
            name=op.f("fk_oa_document_folder_created_by_core_user"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_document_folder")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_document_folder")
    op.create_index(
        "ix_oa_document_folder_parent_id", "oa_document_folder", ["tenant_id", "parent_id"]
    )
    op.create_index("ix_oa_document_folder_path", "oa_document_folder", ["tenant_id", "path"])
    # Names are unique among siblings ignoring case; the top level (no parent) is one set.
    op.execute(
        "CREATE UNIQUE INDEX uq_oa_document_folder_sibling_name ON oa_document_folder "
        "(tenant_id, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), "
        "lower(name))"
    )

    op.create_table(
        "oa_document_grant",
        *_key(),
        sa.Column("folder_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("include_subdepartments", sa.Boolean(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=True),
        sa.Column("builtin_role", sa.String(length=20), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "kind IN ('department', 'role', 'member')", name=op.f("ck_oa_document_grant_kind")
        ),
        sa.CheckConstraint("level IN ('view', 'edit')", name=op.f("ck_oa_document_grant_level")),
        sa.CheckConstraint(
            "(kind = 'department' AND department_id IS NOT NULL)"
            " OR (kind = 'role' AND (role_id IS NOT NULL) <> (builtin_role IS NOT NULL))"
            " OR (kind = 'member' AND user_id IS NOT NULL)",
            name=op.f("ck_oa_document_grant_subject"),
        ),
        _tenant_fk(
            "folder_id",
            "oa_document_folder",
            "fk_oa_document_grant_tenant_id_folder_id_oa_document_folder",
            ondelete="CASCADE",
        ),
        _tenant_fk(
            "department_id",
            "core_department",
            "fk_oa_document_grant_tenant_id_department_id_core_department",
            ondelete="CASCADE",
        ),
        _tenant_fk(
            "role_id",
            "core_role",
            "fk_oa_document_grant_tenant_id_role_id_core_role",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_oa_document_grant_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_document_grant")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_document_grant")
    op.create_index(
        "ix_oa_document_grant_folder_id", "oa_document_grant", ["tenant_id", "folder_id"]
    )

    op.create_table(
        "oa_document",
        *_key(),
        sa.Column("folder_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        _created_at(),
        _tenant_fk(
            "folder_id",
            "oa_document_folder",
            "fk_oa_document_tenant_id_folder_id_oa_document_folder",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["core_user.id"], name=op.f("fk_oa_document_created_by_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_document")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_document")
    op.create_index("ix_oa_document_folder_id", "oa_document", ["tenant_id", "folder_id"])
    op.create_index("ix_oa_document_tags", "oa_document", ["tags"], postgresql_using="gin")

    op.create_table(
        "oa_document_version",
        *_key(),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attachment_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        _created_at(),
        _tenant_fk(
            "document_id",
            "oa_document",
            "fk_oa_document_version_tenant_id_document_id_oa_document",
            ondelete="CASCADE",
        ),
        _tenant_fk(
            "attachment_id",
            "core_attachment",
            "fk_oa_document_version_tenant_id_attachment_id_core_attachment",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["core_user.id"],
            name=op.f("fk_oa_document_version_created_by_core_user"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_document_version")),
        sa.UniqueConstraint(
            "tenant_id",
            "document_id",
            "number",
            name=op.f("uq_oa_document_version_tenant_id_document_id_number"),
        ),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_document_version")
    op.create_index(
        "ix_oa_document_version_attachment_id",
        "oa_document_version",
        ["tenant_id", "attachment_id"],
    )


def downgrade() -> None:
    op.drop_table("oa_document_version")
    op.drop_table("oa_document")
    op.drop_table("oa_document_grant")
    op.drop_table("oa_document_folder")
