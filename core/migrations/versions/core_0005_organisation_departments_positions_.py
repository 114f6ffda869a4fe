"""organisation: departments, positions, member placement

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-11-23 05:56:46.245146
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0005"
down_revision: str | Sequence[str] | None = "core_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_department",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "parent_id"],
            ["core_department.tenant_id", "core_department.id"],
            name=op.f("fk_core_department_tenant_id_parent_id_core_department"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_department")),
        sa.UniqueConstraint(
            "tenant_id",
            "parent_id",
            "name",
            name=op.f("uq_core_department_tenant_id_parent_id_name"),
            postgresql_nulls_not_distinct=True,
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_department")
    op.create_index(
        "ix_core_department_parent_id", "core_department", ["tenant_id", "parent_id"], unique=False
    )
    op.create_index(
        "ix_core_department_tenant_id_path",
        "core_department",
        ["tenant_id", "path"],
        unique=False,
        postgresql_ops={"path": "text_pattern_ops"},
    )
    op.create_table(
        "core_position",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_position")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_core_position_tenant_id_name")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_position")
    op.add_column("core_membership", sa.Column("department_id", sa.Uuid(), nullable=True))
    op.add_column("core_membership", sa.Column("manager_id", sa.Uuid(), nullable=True))
    op.add_column("core_membership", sa.Column("position_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_core_membership_department_id",
        "core_membership",
        ["tenant_id", "department_id"],
        unique=False,
    )
    op.create_index(
        "ix_core_membership_manager_id",
        "core_membership",
        ["tenant_id", "manager_id"],
        unique=False,
    )
    op.create_index(
        "ix_core_membership_position_id",
        "core_membership",
        ["tenant_id", "position_id"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_core_membership_tenant_id_position_id_core_position"),
        "core_membership",
        "core_position",
        ["tenant_id", "position_id"],
        ["tenant_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_core_membership_tenant_id_department_id_core_department"),
        "core_membership",
        "core_department",
        ["tenant_id", "department_id"],
        ["tenant_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_core_membership_tenant_id_manager_id_core_membership"),
        "core_membership",
        "core_membership",
        ["tenant_id", "manager_id"],
        ["tenant_id", "id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_core_membership_tenant_id_manager_id_core_membership"),
        "core_membership",
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("fk_core_membership_tenant_id_department_id_core_department"),
        "core_membership",
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("fk_core_membership_tenant_id_position_id_core_position"),
        "core_membership",
        type_="foreignkey",
    )
    op.drop_index("ix_core_membership_position_id", table_name="core_membership")
    op.drop_index("ix_core_membership_manager_id", table_name="core_membership")
    op.drop_index("ix_core_membership_department_id", table_name="core_membership")
    op.drop_column("core_membership", "position_id")
    op.drop_column("core_membership", "manager_id")
    op.drop_column("core_membership", "department_id")
    op.drop_table("core_position")
    op.drop_index(
        "ix_core_department_tenant_id_path",
        table_name="core_department",
        postgresql_ops={"path": "text_pattern_ops"},
    )
    op.drop_index("ix_core_department_parent_id", table_name="core_department")
    op.drop_table("core_department")
