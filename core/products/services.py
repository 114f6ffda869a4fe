"""The product catalogue: categories, units of measure and their conversions, products,
and the master data a new workspace starts with.

Decisions where the issue is silent:

- Products are not owned records: every member allowed to read the catalogue sees
  all of it, as in Odoo. A product is archived (``active=False``), never deleted,
  because documents keep pointing at it.
- ``kind`` is ``stockable`` (tracked in stock), ``consumable`` (bought and used, never
  counted) or ``service``, Odoo's three types.
- Prices and costs are in the base currency, at most two decimals; more is refused
  rather than silently rounded.
- A barcode is free text up to 64 characters (Code 128 labels, internal codes), but
  one of 12 or 13 digits is a UPC-A or EAN-13 and must carry a valid check digit.
- A conversion says ``1 from_uom = factor to_uom`` and works both ways. A global one
  joins units of one dimension (1 kg = 1000 g); a product's own may cross dimensions
  (1 bag = 25 kg of this cement). :func:`convert` looks for a path through the
  product's conversions first, then through the product's and the global ones
  together, the product's taking precedence for the same pair of units.
- A new workspace gets common units; a working day is 8 hours, as in Odoo.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from msgspec import UNSET, UnsetType
from sqlalchemy import func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import add_unique, assign_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_, check_locale, use_locale
from core.i18n import gettext as _
from core.products import currency, tax
from core.products.currency import has_places, to_decimal
from core.products.models import (
    PRODUCT_KINDS,
    UNIT_DIMENSIONS,
    Product,
    ProductCategory,
    TaxRate,
    UnitConversion,
    UnitOfMeasure,
)

QUANTITY = Decimal("0.0001")  # quantities carry four decimals, like numeric(18,4) columns
MONEY_LIMIT = Decimal("1e16")  # numeric(18,2)
FACTOR_PLACES = 6
FACTOR_LIMIT = Decimal("1e12")  # numeric(18,6)
MAX_CATEGORY_DEPTH = 10
DEFAULT_PAGE = 50

DEFAULT_UNITS = (
    ("pcs", N_("Piece"), "unit"),
    ("dozen", N_("Dozen"), "unit"),
    ("kg", N_("Kilogram"), "weight"),
    ("g", N_("Gram"), "weight"),
    ("t", N_("Tonne"), "weight"),
    ("m", N_("Metre"), "length"),
    ("cm", N_("Centimetre"), "length"),
    ("km", N_("Kilometre"), "length"),
    ("m2", N_("Square metre"), "area"),
    ("L", N_("Litre"), "volume"),
    ("mL", N_("Millilitre"), "volume"),
    ("h", N_("Hour"), "time"),
    ("day", N_("Working day"), "time"),
)
DEFAULT_CONVERSIONS = (
    ("dozen", "pcs", 12),
    ("kg", "g", 1000),
    ("t", "kg", 1000),
    ("m", "cm", 100),
    ("km", "m", 1000),
    ("L", "mL", 1000),
    ("day", "h", 8),
)

_LOCK_CATEGORIES = text(
    "SELECT pg_advisory_xact_lock(hashtext('product-categories:' || "
    "current_setting('app.tenant_id')))"
)


# --- categories ---------------------------------------------------------------------------


def _category_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A category's name has 1 to 100 characters.")
    return name


async def get_category(session: AsyncSession, category_id: uuid.UUID) -> ProductCategory:
    category = await session.scalar(
        select(ProductCategory).where(ProductCategory.id == category_id)
    )
    if category is None:
        raise NotFound("No product category {id}.", id=str(category_id))
    return category


async def _ancestors(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category and the ones above it, nearest first."""
    chain: list[uuid.UUID] = []
    current: uuid.UUID | None = category_id
    while current is not None and len(chain) <= MAX_CATEGORY_DEPTH:
        chain.append(current)
        current = await session.scalar(
            select(ProductCategory.parent_id).where(ProductCategory.id == current)
        )
    return chain


async def create_category(
    session: AsyncSession, name: str, parent_id: uuid.UUID | None = None
) -> ProductCategory:
    await session.execute(_LOCK_CATEGORIES)
    if parent_id is not None:
        await get_category(session, parent_id)
        if len(await _ancestors(session, parent_id)) >= MAX_CATEGORY_DEPTH:
            raise ValidationFailed(
                "Categories nest at most {depth} levels.", depth=MAX_CATEGORY_DEPTH
            )
    category = ProductCategory(name=_category_name(name), parent_id=parent_id)
    if not await add_unique(session, category):
        raise Conflict("There is already a category called {name} here.", name=category.name)
    return category


async def update_category(
    session: AsyncSession,
    category_id: uuid.UUID,
    *,
    name: str | UnsetType = UNSET,
    parent_id: uuid.UUID | UnsetType | None = UNSET,
) -> ProductCategory:
    """Rename a category or move it (with everything below it) under another one."""
    await session.execute(_LOCK_CATEGORIES)  # two moves at once could otherwise make a loop
    category = await get_category(session, category_id)
    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = _category_name(name)
    if parent_id is not UNSET:
        if parent_id is not None:
            await get_category(session, parent_id)
            above = await _ancestors(session, parent_id)
            if category.id in above:
                raise Conflict("A category cannot move under itself or one of its own.")
            if len(above) + await _height(session, category.id) > MAX_CATEGORY_DEPTH:
                raise ValidationFailed(
                    "Categories nest at most {depth} levels.", depth=MAX_CATEGORY_DEPTH
                )
        changes["parent_id"] = parent_id
    new_name = changes.get("name", category.name)
    if not await assign_unique(session, category, changes):
        raise Conflict("There is already a category called {name} here.", name=new_name)
    return category


async def category_subtree(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category and every category below it (to list "Hardware" with its subcategories)."""
    tree = (
        select(ProductCategory.id, literal(1).label("depth"))
        .where(ProductCategory.id == category_id)
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(
        select(ProductCategory.id, (tree.c.depth + 1).label("depth"))
        .join(tree, ProductCategory.parent_id == tree.c.id)
        .where(tree.c.depth < MAX_CATEGORY_DEPTH)
    )
    return list(await session.scalars(select(tree.c.id)))


async def _height(session: AsyncSession, category_id: uuid.UUID) -> int:
    """How many levels the category's subtree spans (1 for a category with no children)."""
    levels, current = 0, [category_id]
    while current and levels <= MAX_CATEGORY_DEPTH:
        levels += 1
        current = list(
            await session.scalars(
                select(ProductCategory.id).where(ProductCategory.parent_id.in_(current))
            )
        )
    return levels


async def delete_category(session: AsyncSession, category_id: uuid.UUID) -> None:
    """Delete an empty category: no categories below it, no products in it."""
    await session.execute(_LOCK_CATEGORIES)
    category = await get_category(session, category_id)
    children = await session.scalar(
        select(func.count()).where(ProductCategory.parent_id == category.id)
    )
    products = await session.scalar(select(func.count()).where(Product.category_id == category.id))
    if children or products:
        raise Conflict("Move the categories and products out of {name} first.", name=category.name)
    await session.delete(category)
    await session.flush()


# --- units of measure and conversions -----------------------------------------------------


async def create_unit(session: AsyncSession, code: str, name: str, dimension: str) -> UnitOfMeasure:
    code, name = code.strip(), name.strip()
    if not code or len(code) > 20 or any(c.isspace() for c in code):
        raise ValidationFailed("A unit's code has 1 to 20 characters and no spaces.")
    if not name or len(name) > 100:
        raise ValidationFailed("A unit's name has 1 to 100 characters.")
    if dimension not in UNIT_DIMENSIONS:
        raise ValidationFailed(
            "A unit measures one of {dimensions}.", dimensions=", ".join(UNIT_DIMENSIONS)
        )
    unit = UnitOfMeasure(code=code, name=name, dimension=dimension)
    if not await add_unique(session, unit):
        raise Conflict("There is already a unit {code}.", code=code)
    return unit


async def get_unit(session: AsyncSession, unit_id: uuid.UUID) -> UnitOfMeasure:
    unit = await session.scalar(select(UnitOfMeasure).where(UnitOfMeasure.id == unit_id))
    if unit is None:
        raise NotFound("No unit of measure {id}.", id=str(unit_id))
    return unit


async def unit_by_code(session: AsyncSession, code: str) -> UnitOfMeasure:
    """The unit with this code, ignoring case (``KG`` finds ``kg``)."""
    unit = await session.scalar(
        select(UnitOfMeasure).where(func.lower(UnitOfMeasure.code) == code.strip().lower())
    )
    if unit is None:
        raise NotFound("There is no unit {code}.", code=code)
    return unit


async def units(session: AsyncSession) -> list[UnitOfMeasure]:
    return list(
        await session.scalars(
            select(UnitOfMeasure).order_by(UnitOfMeasure.dimension, UnitOfMeasure.code)
        )
    )


def _check_factor(factor: Decimal | int) -> Decimal:
    factor = to_decimal(factor)
    if factor <= 0 or factor >= FACTOR_LIMIT or not has_places(factor, FACTOR_PLACES):
        raise ValidationFailed(
            "A conversion factor is a positive number with at most {places} decimal places.",
            places=FACTOR_PLACES,
        )
    return factor


async def add_conversion(
    session: AsyncSession,
    from_uom_id: uuid.UUID,
    to_uom_id: uuid.UUID,
    factor: Decimal | int,
    *,
    product_id: uuid.UUID | None = None,
) -> UnitConversion:
    """Declare ``1 from_uom = factor to_uom``, for every product or for ``product_id``."""
    factor = _check_factor(factor)
    source, target = await get_unit(session, from_uom_id), await get_unit(session, to_uom_id)
    if source.id == target.id:
        raise ValidationFailed("A conversion joins two different units.")
    if product_id is None and source.dimension != target.dimension:
        raise ValidationFailed(
            "{from_uom} and {to_uom} measure different things; convert between them "
            "for a product, not for all.",
            from_uom=source.code,
            to_uom=target.code,
        )
    if product_id is not None:
        await get_product(session, product_id)
    conversion = UnitConversion(
        product_id=product_id, from_uom_id=source.id, to_uom_id=target.id, factor=factor
    )
    if not await add_unique(session, conversion):
        raise Conflict(
            "{from_uom} and {to_uom} already have a conversion.",
            from_uom=source.code,
            to_uom=target.code,
        )
    return conversion


async def delete_conversion(session: AsyncSession, conversion_id: uuid.UUID) -> None:
    conversion = await session.scalar(
        select(UnitConversion).where(UnitConversion.id == conversion_id)
    )
    if conversion is None:
        raise NotFound("No unit conversion {id}.", id=str(conversion_id))
    await session.delete(conversion)
    await session.flush()


Step = tuple[uuid.UUID, Decimal, bool]  # the next unit, the factor, whether to divide by it


def _graph(edges: Iterable[tuple[uuid.UUID, uuid.UUID, Decimal]]) -> dict[uuid.UUID, list[Step]]:
    graph: dict[uuid.UUID, list[Step]] = {}
    for source, target, factor in edges:
        graph.setdefault(source, []).append((target, factor, False))
        graph.setdefault(target, []).append((source, factor, True))
    return graph


def _path(
    graph: dict[uuid.UUID, list[Step]], start: uuid.UUID, goal: uuid.UUID
) -> list[Step] | None:
    """The shortest chain of conversions from ``start`` to ``goal`` (breadth first)."""
    came_from: dict[uuid.UUID, tuple[uuid.UUID, Step]] = {}
    queue, seen = deque([start]), {start}
    while queue:
        unit = queue.popleft()
        if unit == goal:
            steps: list[Step] = []
            while unit != start:
                unit, step = came_from[unit]
                steps.append(step)
            return steps[::-1]
        for step in graph.get(unit, ()):
            if step[0] not in seen:
                seen.add(step[0])
                came_from[step[0]] = (unit, step)
                queue.append(step[0])
    return None


async def convert(
    session: AsyncSession,
    quantity: Decimal | int,
    from_uom_id: uuid.UUID,
    to_uom_id: uuid.UUID,
    product_id: uuid.UUID | None = None,
) -> Decimal:
    """``quantity`` in ``from_uom`` expressed in ``to_uom``, rounded half-up to 4 places."""
    quantity = to_decimal(quantity)
    units_asked = await session.execute(
        select(UnitOfMeasure.id, UnitOfMeasure.code).where(
            UnitOfMeasure.id.in_([from_uom_id, to_uom_id])
        )
    )
    codes = dict(units_asked.all())
    for unit_id in (from_uom_id, to_uom_id):
        if unit_id not in codes:
            raise NotFound("No unit of measure {id}.", id=str(unit_id))
    if from_uom_id == to_uom_id:
        return quantity.quantize(QUANTITY, ROUND_HALF_UP)
    scope = UnitConversion.product_id.is_(None)
    if product_id is not None:
        scope = or_(scope, UnitConversion.product_id == product_id)
    rows = await session.execute(
        select(
            UnitConversion.product_id,
            UnitConversion.from_uom_id,
            UnitConversion.to_uom_id,
            UnitConversion.factor,
        )
        .where(scope)
        .order_by(UnitConversion.id)
    )
    own: list[tuple[uuid.UUID, uuid.UUID, Decimal]] = []
    global_: list[tuple[uuid.UUID, uuid.UUID, Decimal]] = []
    for owner, source, target, factor in rows:
        (global_ if owner is None else own).append((source, target, factor))
    # Both together, the product's own conversion replacing a global one for the same pair.
    pairs = {frozenset((s, t)): (s, t, f) for s, t, f in (*global_, *own)}
    path = _path(_graph(own), from_uom_id, to_uom_id) or _path(
        _graph(pairs.values()), from_uom_id, to_uom_id
    )
    if path is None:
        raise ValidationFailed(
            "There is no conversion from {from_uom} to {to_uom}.",
            from_uom=codes[from_uom_id],
            to_uom=codes[to_uom_id],
        )
    with localcontext() as context:
        context.prec = 40
        for _unit, factor, divide in path:
            quantity = quantity / factor if divide else quantity * factor
    return quantity.quantize(QUANTITY, ROUND_HALF_UP)


# --- products ----------------------------------------------------------------------------


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
    """Each given field validated (and looked up) into the value to store."""
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
        if field in plain:
            checked[field] = plain[field](value)
        else:
            checked[field] = await looked_up[field](session, value)
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
            raise Conflict("There is already a product with the SKU {sku}.", sku=sku)
    raise Conflict(
        "There is already a product with the barcode {barcode}.", barcode=fields.get("barcode")
    )


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
) -> Product:
    """Change the given fields; archive a product with ``active=False``."""
    product = await get_product(session, product_id)
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
    return await _save_product(session, product, fields, product_id)


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.scalar(select(Product).where(Product.id == product_id))
    if product is None:
        raise NotFound("No product {id}.", id=str(product_id))
    return product


async def product_by_sku(session: AsyncSession, sku: str) -> Product | None:
    """The product with this SKU, ignoring case."""
    return await session.scalar(
        select(Product).where(func.lower(Product.sku) == sku.strip().lower())
    )


async def product_by_barcode(session: AsyncSession, barcode: str) -> Product | None:
    return await session.scalar(select(Product).where(Product.barcode == barcode.strip()))


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


# --- a new workspace ---------------------------------------------------------------------


async def seed_units(session: AsyncSession) -> None:
    """Common units and the conversions between them; keeps units already there.

    Call inside ``core.i18n.use_locale(locale)`` so the names are translated.
    """
    if await session.scalar(select(UnitOfMeasure.id).limit(1)) is not None:
        return
    made = {
        code: await create_unit(session, code, _(name), dimension)
        for code, name, dimension in DEFAULT_UNITS
    }
    for source, target, factor in DEFAULT_CONVERSIONS:
        await add_conversion(session, made[source].id, made[target].id, factor)


async def seed_defaults(session: AsyncSession, locale: str) -> None:
    """What a new workspace starts with, from its language: the base currency (CNY for
    zh-CN, USD for en), the PRC's VAT rates for zh-CN, and common units.

    Safe to run again: each part is skipped once the workspace has its own.
    """
    check_locale(locale)
    with use_locale(locale):
        await currency.seed_base_currency(session, locale)
        await tax.seed_tax_rates(session, locale)
        await seed_units(session)
