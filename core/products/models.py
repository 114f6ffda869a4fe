"""Products and what they are counted, priced and taxed in: categories, units of measure
and their conversions, tax rates, currencies and exchange rates.

Products are shared master data, not owned records: every member who may read the
catalogue sees all of it (as in Odoo), so the table has no owner or department.
The rules live in :mod:`core.products.services`, :mod:`core.products.currency` and
:mod:`core.products.tax`; the constraints here are the backstop under concurrency.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Money
from core.orm import TenantModel, tenant_ref

PRODUCT_KINDS = ("stockable", "consumable", "service")
UNIT_DIMENSIONS = ("unit", "weight", "length", "area", "volume", "time")
TAX_KINDS = ("sale", "purchase", "both")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ProductCategory(TenantModel):
    """A node in the tenant's product category tree (Hardware / Fasteners / Screws)."""

    __tablename__ = "core_product_category"
    __table_args__ = (
        UniqueConstraint("tenant_id", "parent_id", "name", postgresql_nulls_not_distinct=True),
    )

    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[uuid.UUID | None] = tenant_ref("core_product_category", nullable=True)


class UnitOfMeasure(TenantModel):
    """A unit ("pcs", "kg", "box") in a dimension; codes are unique ignoring case."""

    __tablename__ = "core_uom"
    __table_args__ = (
        Index("uq_core_uom_code_lower", "tenant_id", func.lower(text("code")), unique=True),
        CheckConstraint(_one_of("dimension", UNIT_DIMENSIONS), name="dimension"),
    )

    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    dimension: Mapped[str] = mapped_column(String(10))


class TaxRate(TenantModel):
    """A VAT rate, stored as a fraction (13 % is ``0.1300``). At most one default per kind.

    The rate itself never changes once created (:mod:`core.products.tax`).
    """

    __tablename__ = "core_tax_rate"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index(
            "uq_core_tax_rate_default",
            "tenant_id",
            "kind",
            unique=True,
            postgresql_where=text("is_default"),
        ),
        CheckConstraint("rate >= 0 AND rate < 1", name="rate_fraction"),
        CheckConstraint(_one_of("kind", TAX_KINDS), name="kind"),
        CheckConstraint("active OR NOT is_default", name="default_is_active"),
    )

    name: Mapped[str] = mapped_column(String(100))
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    kind: Mapped[str] = mapped_column(String(10), default="both")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Product(TenantModel):
    """A stockable good, a consumable or a service. SKUs are unique ignoring case;
    a barcode, when set, is unique too. Prices are in the tenant's base currency."""

    __tablename__ = "core_product"
    __table_args__ = (
        Index("uq_core_product_sku_lower", "tenant_id", func.lower(text("sku")), unique=True),
        UniqueConstraint("tenant_id", "barcode"),
        CheckConstraint(_one_of("kind", PRODUCT_KINDS), name="kind"),
        CheckConstraint("sale_price >= 0 AND standard_cost >= 0", name="prices_not_negative"),
    )

    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="stockable")
    category_id: Mapped[uuid.UUID | None] = tenant_ref("core_product_category", nullable=True)
    uom_id: Mapped[uuid.UUID] = tenant_ref("core_uom")
    sale_price: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    standard_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    tax_rate_id: Mapped[uuid.UUID | None] = tenant_ref("core_tax_rate", nullable=True)
    barcode: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class UnitConversion(TenantModel):
    """``1 from_uom = factor to_uom``: for every product (``product_id`` null, within one
    dimension) or for one product (1 box = 12 pcs, 1 bag = 25 kg).

    One conversion per pair of units and product, whichever way round it was entered.
    """

    __tablename__ = "core_uom_conversion"
    __table_args__ = (
        Index(
            "uq_core_uom_conversion_pair",
            "tenant_id",
            "product_id",
            func.least(text("from_uom_id"), text("to_uom_id")),
            func.greatest(text("from_uom_id"), text("to_uom_id")),
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("factor > 0", name="factor_positive"),
        CheckConstraint("from_uom_id <> to_uom_id", name="two_units"),
    )

    # The pair index leads with (tenant_id, product_id): it serves the product FK too.
    product_id: Mapped[uuid.UUID | None] = tenant_ref(
        "core_product", nullable=True, ondelete="CASCADE", index=False
    )
    from_uom_id: Mapped[uuid.UUID] = tenant_ref("core_uom")
    to_uom_id: Mapped[uuid.UUID] = tenant_ref("core_uom")
    factor: Mapped[Decimal] = mapped_column(Numeric(18, 6))


class Currency(TenantModel):
    """An ISO 4217 currency the tenant uses; exactly one is its base currency."""

    __tablename__ = "core_currency"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        Index("uq_core_currency_base", "tenant_id", unique=True, postgresql_where=text("is_base")),
        CheckConstraint("code ~ '^[A-Z]{3}$'", name="iso_code"),
        CheckConstraint("active OR NOT is_base", name="base_is_active"),
    )

    code: Mapped[str] = mapped_column(String(3))
    is_base: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ExchangeRate(TenantModel):
    """How many units of the base currency one unit of ``currency`` is worth from ``valid_on``."""

    __tablename__ = "core_exchange_rate"
    __table_args__ = (
        # The unique key also serves "the latest rate on or before a day" and the FK.
        UniqueConstraint("tenant_id", "currency", "valid_on"),
        ForeignKeyConstraint(
            ["tenant_id", "currency"], ["core_currency.tenant_id", "core_currency.code"]
        ),
        CheckConstraint("rate > 0", name="rate_positive"),
    )

    currency: Mapped[str] = mapped_column(String(3))
    valid_on: Mapped[date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Numeric(18, 8))
