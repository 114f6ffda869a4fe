"""products, units, currencies, rates, tax rates

Revision ID: core_0008
Revises: core_0007
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0008"
down_revision: str | Sequence[str] | None = "core_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLE = {"tenancy": "tenant", "module": "core"}


def _keys(table: str) -> list[sa.Column | sa.PrimaryKeyConstraint]:
    """The columns every tenant table starts and ends with, and its primary key."""
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "core_product_category",
        *_keys("core_product_category"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "parent_id"],
            ["core_product_category.tenant_id", "core_product_category.id"],
            name=op.f("fk_core_product_category_tenant_id_parent_id_core_product_category"),
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "parent_id",
            "name",
            name=op.f("uq_core_product_category_tenant_id_parent_id_name"),
            postgresql_nulls_not_distinct=True,
        ),
        info=TENANT_TABLE,
    )
    op.enable_tenant_rls("core_product_category")
    op.create_index(
        "ix_core_product_category_parent_id",
        "core_product_category",
        ["tenant_id", "parent_id"],
        unique=False,
    )

    op.create_table(
        "core_uom",
        *_keys("core_uom"),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("dimension", sa.String(length=10), nullable=False),
        _created_at(),
        sa.CheckConstraint(
            "dimension IN ('unit', 'weight', 'length', 'area', 'volume', 'time')",
            name=op.f("ck_core_uom_dimension"),
        ),
        info=TENANT_TABLE,
    )
    op.enable_tenant_rls("core_uom")
    op.create_index(
        "uq_core_uom_code_lower",
        "core_uom",
        ["tenant_id", sa.literal_column("lower(code)")],
        unique=True,
    )

    op.create_table(
        "core_tax_rate",
        *_keys("core_tax_rate"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("rate", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        _created_at(),
        sa.CheckConstraint(
            "kind IN ('sale', 'purchase', 'both')", name=op.f("ck_core_tax_rate_kind")
        ),
        sa.CheckConstraint(
            "active OR NOT is_default", name=op.f("ck_core_tax_rate_default_is_active")
        ),
        sa.CheckConstraint("rate >= 0 AND rate < 1", name=op.f("ck_core_tax_rate_rate_fraction")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_core_tax_rate_tenant_id_name")),
        info=TENANT_TABLE,
    )
    op.enable_tenant_rls("core_tax_rate")
    op.create_index(
        "uq_core_tax_rate_default",
        "core_tax_rate",
        ["tenant_id", "kind"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )

    op.create_table(
        "core_product",
        *_keys("core_product"),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("uom_id", sa.Uuid(), nullable=False),
        sa.Column("sale_price", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("standard_cost", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("tax_rate_id", sa.Uuid(), nullable=True),
        sa.Column("barcode", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _created_at(),
        sa.CheckConstraint(
            "kind IN ('stockable', 'consumable', 'service')", name=op.f("ck_core_product_kind")
        ),
        sa.CheckConstraint(
            "sale_price >= 0 AND standard_cost >= 0",
            name=op.f("ck_core_product_prices_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "category_id"],
            ["core_product_category.tenant_id", "core_product_category.id"],
            name=op.f("fk_core_product_tenant_id_category_id_core_product_category"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "tax_rate_id"],
            ["core_tax_rate.tenant_id", "core_tax_rate.id"],
            name=op.f("fk_core_product_tenant_id_tax_rate_id_core_tax_rate"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "uom_id"],
            ["core_uom.tenant_id", "core_uom.id"],
            name=op.f("fk_core_product_tenant_id_uom_id_core_uom"),
        ),
        sa.UniqueConstraint("tenant_id", "barcode", name=op.f("uq_core_product_tenant_id_barcode")),
        info=TENANT_TABLE,
    )
    op.enable_tenant_rls("core_product")
    op.create_index(
        "ix_core_product_category_id", "core_product", ["tenant_id", "category_id"], unique=False
    )
    op.create_index(
        "ix_core_product_tax_rate_id", "core_product", ["tenant_id", "tax_rate_id"], unique=False
    )
    op.create_index("ix_core_product_uom_id", "core_product", ["tenant_id", "uom_id"], unique=False)
    op.create_index(
        "uq_core_product_sku_lower",
        "core_product",
        ["tenant_id", sa.literal_column("lower(sku)")],
        unique=True,
    )

    op.create_table(
        "core_uom_conversion",
        *_keys("core_uom_conversion"),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("from_uom_id", sa.Uuid(), nullable=False),
        sa.Column("to_uom_id", sa.Uuid(), nullable=False),
        sa.Column("factor", sa.Numeric(precision=18, scale=6), nullable=False),
        _created_at(),
        sa.CheckConstraint("factor > 0", name=op.f("ck_core_uom_conversion_factor_positive")),
        sa.CheckConstraint(
            "from_uom_id <> to_uom_id", name=op.f("ck_core_uom_conversion_two_units")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "from_uom_id"],
            ["core_uom.tenant_id", "core_uom.id"],
            name=op.f("fk_core_uom_conversion_tenant_id_from_uom_id_core_uom"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "product_id"],
            ["core_product.tenant_id", "core_product.id"],
            name=op.f("fk_core_uom_conversion_tenant_id_product_id_core_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "to_uom_id"],
            ["core_uom.tenant_id", "core_uom.id"],
            name=op.f("fk_core_uom_conversion_tenant_id_to_uom_id_core_uom"),
        ),
        info=TENANT_TABLE,
    )
    op.enable_tenant_rls("core_uom_conversion")
    op.create_index(
        "ix_core_uom_conversion_from_uom_id",
        "core_uom_conversion",
        ["tenant_id", "from_uom_id"],
        unique=False,
    )
    op.create_index(
        "ix_core_uom_conversion_to_uom_id",
        "core_uom_conversion",
        ["tenant_id", "to_uom_id"],
        unique=False,
    )
    op.create_index(
        "uq_core_uom_conversion_pair",
        "core_uom_conversion",
        [
            "tenant_id",
            "product_id",
            sa.literal_column("least(from_uom_id, to_uom_id)"),
            sa.literal_column("greatest(from_uom_id, to_uom_id)"),
        ],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )

    op.create_table(
        "core_currency",
        *_keys("core_currency"),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("is_base", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _created_at(),
        sa.CheckConstraint("code ~ '^[A-Z]{3}$'", name=op.f("ck_core_currency_iso_code")),
        sa.CheckConstraint("active OR NOT is_base", name=op.f("ck_core_currency_base_is_active")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_core_currency_tenant_id_code")),
        info=TENANT_TABLE,
    )
    op.enable_tenant_rls("core_currency")
    op.create_index(
        "uq_core_currency_base",
        "core_currency",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("is_base"),
    )

    op.create_table(
        "core_exchange_rate",
        *_keys("core_exchange_rate"),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_on", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=8), nullable=False),
        _created_at(),
        sa.CheckConstraint("rate > 0", name=op.f("ck_core_exchange_rate_rate_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "currency"],
            ["core_currency.tenant_id", "core_currency.code"],
            name=op.f("fk_core_exchange_rate_tenant_id_currency_core_currency"),
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "currency",
            "valid_on",
            name=op.f("uq_core_exchange_rate_tenant_id_currency_valid_on"),
        ),
        info=TENANT_TABLE,
    )
    op.enable_tenant_rls("core_exchange_rate")


def downgrade() -> None:
    # Dropping a table drops its indexes and its row-level security policy with it.
    for table in (
        "core_exchange_rate",
        "core_currency",
        "core_uom_conversion",
        "core_product",
        "core_tax_rate",
        "core_uom",
        "core_product_category",
    ):
        op.drop_table(table)
