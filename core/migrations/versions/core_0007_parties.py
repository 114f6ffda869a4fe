"""parties, contacts, addresses, tags

Revision ID: core_0007
Revises: core_0006
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0007"
down_revision: str | Sequence[str] | None = "core_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _party_fk(
    table: str, column: str = "party_id", ondelete: str | None = "CASCADE"
) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        ["core_party.tenant_id", "core_party.id"],
        name=op.f(f"fk_{table}_tenant_id_{column}_core_party"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "core_party_tag",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_party_tag")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_core_party_tag_tenant_id_name")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_party_tag")
    op.create_table(
        "core_party",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_normalised", sa.String(length=200), nullable=False),
        sa.Column("is_customer", sa.Boolean(), nullable=False),
        sa.Column("is_supplier", sa.Boolean(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=True),
        sa.Column("tax_id", sa.String(length=50), nullable=True),
        sa.Column("website", sa.String(length=200), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        _created_at(),
        sa.CheckConstraint("kind IN ('company', 'person')", name=op.f("ck_core_party_kind")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["core_user.id"], name=op.f("fk_core_party_owner_id_core_user")
        ),
        _party_fk("core_party", "company_id", ondelete=None),
        sa.ForeignKeyConstraint(
            ["tenant_id", "department_id"],
            ["core_department.tenant_id", "core_department.id"],
            name=op.f("fk_core_party_tenant_id_department_id_core_department"),
        ),
        _party_fk("core_party", "merged_into_id", ondelete=None),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_party")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_party")
    for name, columns in (
        ("ix_core_party_company_id", ["tenant_id", "company_id"]),
        ("ix_core_party_department_id", ["tenant_id", "department_id"]),
        ("ix_core_party_merged_into_id", ["tenant_id", "merged_into_id"]),
        ("ix_core_party_owner_id", ["tenant_id", "owner_id"]),
        (
            "ix_core_party_tenant_id_department_id_name_id",
            ["tenant_id", "department_id", "name", "id"],
        ),
        ("ix_core_party_tenant_id_name_id", ["tenant_id", "name", "id"]),
        ("ix_core_party_tenant_id_name_normalised", ["tenant_id", "name_normalised"]),
        ("ix_core_party_tenant_id_owner_id_name_id", ["tenant_id", "owner_id", "name", "id"]),
    ):
        op.create_index(name, "core_party", columns, unique=False)
    op.create_table(
        "core_party_address",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=False),
        sa.Column("line1", sa.String(length=200), nullable=False),
        sa.Column("line2", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=False),
        sa.Column("postcode", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        _created_at(),
        _party_fk("core_party_address"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_party_address")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_party_address")
    op.create_index(
        "ix_core_party_address_party_id",
        "core_party_address",
        ["tenant_id", "party_id"],
        unique=False,
    )
    op.create_table(
        "core_party_contact_point",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("value_normalised", sa.String(length=320), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("label", sa.String(length=50), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        _created_at(),
        sa.CheckConstraint(
            "kind IN ('email', 'phone')", name=op.f("ck_core_party_contact_point_kind")
        ),
        _party_fk("core_party_contact_point"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_party_contact_point")),
        sa.UniqueConstraint(
            "tenant_id",
            "party_id",
            "kind",
            "value_normalised",
            name=op.f("uq_core_party_contact_point_tenant_id_party_id_kind_value_normalised"),
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_party_contact_point")
    op.create_index(
        "ix_core_party_contact_point_tenant_id_domain",
        "core_party_contact_point",
        ["tenant_id", "domain"],
        unique=False,
    )
    op.create_index(
        "ix_core_party_contact_point_tenant_id_kind_value_normalised",
        "core_party_contact_point",
        ["tenant_id", "kind", "value_normalised"],
        unique=False,
    )
    op.create_table(
        "core_party_tagging",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        _created_at(),
        _party_fk("core_party_tagging"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "tag_id"],
            ["core_party_tag.tenant_id", "core_party_tag.id"],
            name=op.f("fk_core_party_tagging_tenant_id_tag_id_core_party_tag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_party_tagging")),
        sa.UniqueConstraint(
            "tenant_id",
            "party_id",
            "tag_id",
            name=op.f("uq_core_party_tagging_tenant_id_party_id_tag_id"),
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_party_tagging")
    op.create_index(
        "ix_core_party_tagging_tag_id", "core_party_tagging", ["tenant_id", "tag_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("core_party_tagging")
    op.drop_table("core_party_contact_point")
    op.drop_table("core_party_address")
    op.drop_table("core_party")
    op.drop_table("core_party_tag")
