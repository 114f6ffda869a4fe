"""billing: the operator's prices per module

Revision ID: core_0016
Revises: core_0015
Create Date: 2026-12-01 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0016"
down_revision: str | Sequence[str] | None = "core_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_price",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("module_key", sa.String(length=31), nullable=False),
        sa.Column("interval", sa.String(length=5), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit_amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("per_member", sa.Boolean(), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("lookup_key", sa.String(length=100), nullable=False),
        sa.Column("stripe_product_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_price_id", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("interval IN ('month', 'year')", name=op.f("ck_billing_price_interval")),
        sa.CheckConstraint("unit_amount > 0", name=op.f("ck_billing_price_amount_positive")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_billing_price_currency_code")),
        sa.CheckConstraint(
            "trial_days BETWEEN 0 AND 365", name=op.f("ck_billing_price_trial_days")
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_billing_price_version_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["core_user.id"],
            name=op.f("fk_billing_price_created_by_core_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_price")),
        sa.UniqueConstraint("lookup_key", name=op.f("uq_billing_price_lookup_key")),
        info={"tenancy": "global", "module": "billing"},
    )
    op.create_index(
        "uq_billing_price_active_module_key_interval",
        "billing_price",
        ["module_key", "interval"],
        unique=True,
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("uq_billing_price_active_module_key_interval", table_name="billing_price")
    op.drop_table("billing_price")
