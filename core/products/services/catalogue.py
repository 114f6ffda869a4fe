"""Products: the checks on each field, create, change, and the list by SKU."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from msgspec import UNSET, UnsetType
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import assign_unique
from core.errors import Conflict, DomainError, ValidationFailed
from core.i18n import N_
from core.products import tax
from core.products.currency import has_places, to_decimal
from core.products.models import PRODUCT_KINDS, Product, ProductCategory, TaxRate, UnitOfMeasure
from core.products.services.categories import category_subtree
from core.products.services.lookups import get_category, get_product, get_unit
from core.records.timeline import referenced_name, track_changes

READ, WRITE = "core.product.read", "core.product.write"
RECORD = "core.product"  # the record type attachments and the timeline hang on
#: The fields a change is tracked for on the product's timeline, with their labels (msgids).
TRACKED = {
    "sku": N_("SKU"),
    "name": N_("Name"),
    "kind": N_("Product type"),
    "category": N_("Category"),
    "unit": N_("Unit"),
    "sale_price": N_("Sale price"),
    "standard_cost": N_("Standard cost"),
    "tax_rate": N_("Tax rate"),
    "barcode": N_("Barcode"),
    "active": N_("Active"),
}
_REFERENCES = ("category_id", "uom_id", "tax_rate_id")
MONEY_LIMIT = Decimal("1e16")  # numeric(18,2)
DEFAULT_PAGE = 50


def gtin_check_digit_ok(digits: str) -> bool:
    """The GS1 check digit of an EAN-13 or UPC-A: weights 3 and 1 from the right."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _barcode(barcode: str | None) -> str | None:
    if barcode is None or not barcode.strip():
        return None
    barcode = barcode.strip()
    if len(barcode) > 64:
        raise ValidationFailed("A barcode has at most 64 characters.")
    is_gtin = barcode.isascii() and barcode.isdigit() and len(barcode) in (12, 13)
    if is_gtin and not gtin_check_digit_ok(barcode):
        raise ValidationFailed(
            "The barcode {barcode} has a wrong check digit for an EAN-13 or UPC-A.",
            barcode=barcode,
        )
    return barcode


def _sku(sku: str) -> str:
    sku = sku.strip()
    if not sku or len(sku) > 64:
        raise ValidationFailed("A SKU has 1 to 64 characters.")
    return sku


def _product_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A product's name has 1 to 200 characters.")
    return name


def _kind(kind: str) -> str:
    if kind not in PRODUCT_KINDS:
        raise ValidationFailed("A product is one of {kinds}.", kinds=", ".join(PRODUCT_KINDS))
    return kind


def _money(value: Decimal | int) -> Decimal:
    value = to_decimal(value)
    if value < 0 or value >= MONEY_LIMIT or not has_places(value, 2):
        raise ValidationFailed("A price or cost is zero or more, with at most 2 decimal places.")
    return value.quantize(Decimal("0.01"))


async def _tax_rate_id(session: AsyncSession, tax_rate_id: uuid.UUID | None) -> uuid.UUID | None:
    if tax_rate_id is not None:
        rate: TaxRate = await tax.get_tax_rate(session, tax_rate_id)
        if not rate.active:
            raise ValidationFailed("The tax rate {name} is no longer active.", name=rate.name)
    return tax_rate_id


async def _category_id(session: AsyncSession, category_id: uuid.UUID | None) -> uuid.UUID | None:
    if category_id is not None:
        await get_category(session, category_id)
    return category_id


async def _unit_id(session: AsyncSession, uom_id: uuid.UUID) -> uuid.UUID:
    return (await get_unit(session, uom_id)).id


async def _checked(session: AsyncSession, changes: dict[str, Any]) -> dict[str, Any]:
    """Each given field validated (and looked up) into the value to store.

    A refusal names its field in the error's ``field`` (the form shows it beside the
    input, the API returns it in the body)."""
    plain = {
        "sku": _sku,
        "name": _product_name,
        "kind": _kind,
        "sale_price": _money,
        "standard_cost": _money,
        "barcode": _barcode,
        "active": bool,
    }
    looked_up = {
        "category_id": _category_id,
        "uom_id": _unit_id,
        "tax_rate_id": _tax_rate_id,
    }
    checked: dict[str, Any] = {}
    for field, value in changes.items():
        if value is UNSET:
            continue
        try:
            if field in plain:
                checked[field] = plain[field](value)
            else:
                checked[field] = await looked_up[field](session, value)
        except DomainError as error:
            error.params.setdefault("field", field)
            raise
    return checked


async def _save_product(
    session: AsyncSession,
    product: Product,
    fields: dict[str, Any],
    product_id: uuid.UUID | None = None,
) -> Product:
    """Write the fields; a taken SKU or barcode is a Conflict naming which."""
    if await assign_unique(session, product, fields):
        return product
    sku = fields.get("sku")
    if sku is not None:
        taken = select(Product.id).where(func.lower(Product.sku) == sku.lower())
        if product_id is not None:
            taken = taken.where(Product.id != product_id)
        if await session.scalar(taken) is not None:
            raise Conflict("There is already a product with the SKU {sku}.", sku=sku, field="sku")
    raise Conflict(
        "There is already a product with the barcode {barcode}.",
        barcode=fields.get("barcode"),
        field="barcode",
    )


async def _tracked(session: AsyncSession, product: Product) -> dict[str, Any]:
    """The tracked fields as the timeline shows them: references by their name or code."""

    return {
        "sku": product.sku,
        "name": product.name,
        "kind": product.kind,
        "category": await referenced_name(session, ProductCategory.name, product.category_id),
        "unit": await referenced_name(session, UnitOfMeasure.code, product.uom_id),
        "sale_price": product.sale_price,
        "standard_cost": product.standard_cost,
        "tax_rate": await referenced_name(session, TaxRate.name, product.tax_rate_id),
        "barcode": product.barcode,
        "active": product.active,
    }


async def create_product(
    session: AsyncSession,
    *,
    sku: str,
    name: str,
    uom_id: uuid.UUID,
    kind: str = "stockable",
    category_id: uuid.UUID | None = None,
    sale_price: Decimal | int = 0,
    standard_cost: Decimal | int = 0,
    tax_rate_id: uuid.UUID | None = None,
    barcode: str | None = None,
    active: bool = True,
) -> Product:
    fields = await _checked(
        session,
        {
            "sku": sku,
            "name": name,
            "uom_id": uom_id,
            "kind": kind,
            "category_id": category_id,
            "sale_price": sale_price,
            "standard_cost": standard_cost,
            "tax_rate_id": tax_rate_id,
            "barcode": barcode,
            "active": active,
        },
    )
    return await _save_product(session, Product(), fields)


async def update_product(
    session: AsyncSession,
    product_id: uuid.UUID,
    *,
    sku: str | UnsetType = UNSET,
    name: str | UnsetType = UNSET,
    uom_id: uuid.UUID | UnsetType = UNSET,
    kind: str | UnsetType = UNSET,
    category_id: uuid.UUID | UnsetType | None = UNSET,
    sale_price: Decimal | int | UnsetType = UNSET,
    standard_cost: Decimal | int | UnsetType = UNSET,
    tax_rate_id: uuid.UUID | UnsetType | None = UNSET,
    barcode: str | UnsetType | None = UNSET,
    active: bool | UnsetType = UNSET,
    author_id: uuid.UUID | None = None,
) -> Product:
    """Change the given fields; archive a product with ``active=False``.

    What changed goes on the product's timeline as one tracked change by ``author_id``.
    A reference sent as it is stays, even to a tax rate archived since it was chosen.
    """
    product = await get_product(session, product_id)
    before = await _tracked(session, product)
    changes = {
        "sku": sku,
        "name": name,
        "uom_id": uom_id,
        "kind": kind,
        "category_id": category_id,
        "sale_price": sale_price,
        "standard_cost": standard_cost,
        "tax_rate_id": tax_rate_id,
        "barcode": barcode,
        "active": active,
    }
    for reference in _REFERENCES:
        if changes[reference] == getattr(product, reference):
            changes[reference] = UNSET
    fields = await _checked(session, changes)
    await _save_product(session, product, fields, product_id)
    after = await _tracked(session, product)
    await track_changes(session, RECORD, product.id, author_id, before, after, TRACKED)
    return product


async def list_products(
    session: AsyncSession,
    *,
    search: str | None = None,
    kind: str | None = None,
    category_id: uuid.UUID | None = None,
    active: bool | None = True,
    after_sku: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> list[Product]:
    """A page of the catalogue by SKU (ignoring case); the next page starts after the last
    SKU. ``search`` matches SKU, name or barcode; a category includes its subcategories."""
    sku_key = func.lower(Product.sku)
    query = select(Product).order_by(sku_key).limit(max(1, min(limit, 500)))
    if search and search.strip():
        term = search.strip()
        query = query.where(
            or_(
                Product.sku.icontains(term, autoescape=True),
                Product.name.icontains(term, autoescape=True),
                Product.barcode == term,
            )
        )
    if kind is not None:
        query = query.where(Product.kind == _kind(kind))
    if category_id is not None:
        query = query.where(Product.category_id.in_(await category_subtree(session, category_id)))
    if active is not None:
        query = query.where(Product.active.is_(active))
    if after_sku is not None:
        query = query.where(sku_key > after_sku.lower())
    return list(await session.scalars(query))
