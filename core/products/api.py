"""JSON API for the product catalogue and what products are counted, taxed and priced in,
mounted under ``/api/t/{slug}``.

Reading needs ``core.product.read`` (every member has it), creating and
changing ``core.product.write``. Products are shared master data with no data
scope: whoever may read the catalogue sees all of it. Money is a decimal
string in JSON (``"12.50"``); a number is accepted on input and read exactly.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from core.exchange.exports import MEDIA_TYPES
from core.exchange.products import export_product_list
from core.products import currency, services, tax
from core.products.models import Product
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

READ, WRITE = "core.product.read", "core.product.write"
MAX_PAGE = 200


class ProductIn(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    name: str
    uom_id: uuid.UUID
    kind: str = "stockable"  # stockable, consumable or service
    category_id: uuid.UUID | None = None
    sale_price: Decimal = Decimal(0)
    standard_cost: Decimal = Decimal(0)
    tax_rate_id: uuid.UUID | None = None
    barcode: str | None = None
    active: bool = True


class ProductChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change; a field left out stays as it is. ``active: false`` archives."""

    sku: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    uom_id: uuid.UUID | UnsetType = UNSET
    kind: str | UnsetType = UNSET
    category_id: uuid.UUID | UnsetType | None = UNSET
    sale_price: Decimal | UnsetType = UNSET
    standard_cost: Decimal | UnsetType = UNSET
    tax_rate_id: uuid.UUID | UnsetType | None = UNSET
    barcode: str | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class ProductOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    sku: str
    name: str
    kind: str
    category_id: uuid.UUID | None
    uom_id: uuid.UUID
    sale_price: Decimal
    standard_cost: Decimal
    tax_rate_id: uuid.UUID | None
    barcode: str | None
    active: bool


class ProductPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page by SKU; pass ``next_cursor`` back as ``after`` for the next, None at the end."""

    items: list[ProductOut]
    next_cursor: str | None


class UnitOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    code: str
    name: str
    dimension: str


class TaxRateOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    rate: Decimal  # a fraction: 13 % is "0.1300"
    kind: str  # sale, purchase or both
    active: bool
    is_default: bool


class CurrencyOut(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    is_base: bool
    decimals: int


def product_out(product: Product) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        name=product.name,
        kind=product.kind,
        category_id=product.category_id,
        uom_id=product.uom_id,
        sale_price=product.sale_price,
        standard_cost=product.standard_cost,
        tax_rate_id=product.tax_rate_id,
        barcode=product.barcode,
        active=product.active,
    )


async def product_page(
    session: AsyncSession,
    *,
    search: str | None = None,
    kind: str | None = None,
    category_id: uuid.UUID | None = None,
    active: bool | None = True,
    after: str | None = None,
    limit: int = 50,
) -> ProductPage:
    """A page of the catalogue, one row more asked for to know whether another page follows."""
    limit = min(max(limit, 1), MAX_PAGE)
    rows = await services.list_products(
        session,
        search=search,
        kind=kind,
        category_id=category_id,
        active=active,
        after_sku=after,
        limit=limit + 1,
    )
    items = [product_out(p) for p in rows[:limit]]
    return ProductPage(items=items, next_cursor=items[-1].sku if len(rows) > limit else None)


@get("/products", guards=[requires(READ)], summary="Products by SKU, with search and filters")
async def list_products(
    session: DbSession,
    q: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    category_id: FromQuery[uuid.UUID | None] = None,
    include_archived: FromQuery[bool] = False,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = 50,
) -> ProductPage:
    """``q`` matches SKU, name or barcode; a category includes its subcategories."""
    return await product_page(
        session,
        search=q or None,
        kind=kind or None,
        category_id=category_id,
        active=None if include_archived else True,
        after=after or None,
        limit=limit,
    )


@post("/products", guards=[requires(WRITE)], summary="Create a product")
async def create_product(session: DbSession, data: JSONBody[ProductIn]) -> ProductOut:
    product = await services.create_product(session, **msgspec.structs.asdict(data))
    return product_out(product)


@get("/products/export", guards=[requires(READ)], summary="The catalogue as CSV or Excel")
async def export_products(
    session: DbSession,
    actor: CurrentActor,
    file_format: Annotated[str, QueryParameter(name="format")] = "csv",
    q: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    category_id: FromQuery[uuid.UUID | None] = None,
    include_archived: FromQuery[bool] = False,
) -> Response[bytes]:
    content = await export_product_list(
        session,
        actor,
        file_format,
        search=q or None,
        kind=kind or None,
        category_id=category_id,
        active=None if include_archived else True,
    )
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={"content-disposition": f'attachment; filename="products.{file_format}"'},
    )


@get("/products/{product_id:uuid}", guards=[requires(READ)], summary="A product")
async def get_product(session: DbSession, product_id: FromPath[uuid.UUID]) -> ProductOut:
    return product_out(await services.get_product(session, product_id))


@patch("/products/{product_id:uuid}", guards=[requires(WRITE)], summary="Change a product")
async def update_product(
    session: DbSession, product_id: FromPath[uuid.UUID], data: JSONBody[ProductChanges]
) -> ProductOut:
    changes = msgspec.structs.asdict(data)
    return product_out(await services.update_product(session, product_id, **changes))


@get("/units", guards=[requires(READ)], summary="Units of measure, by dimension")
async def list_units(session: DbSession) -> list[UnitOut]:
    return [
        UnitOut(id=u.id, code=u.code, name=u.name, dimension=u.dimension)
        for u in await services.units(session)
    ]


@get("/tax-rates", guards=[requires(READ)], summary="Tax rates, highest first")
async def list_tax_rates(
    session: DbSession, use: FromQuery[str | None] = None, include_inactive: FromQuery[bool] = False
) -> list[TaxRateOut]:
    """``use`` (sale or purchase) keeps the rates for it."""
    rates = await tax.tax_rates(session, use=use, include_inactive=include_inactive)
    return [
        TaxRateOut(
            id=r.id,
            name=r.name,
            rate=r.rate,
            kind=r.kind,
            active=r.active,
            is_default=r.is_default,
        )
        for r in rates
    ]


@get("/currencies", guards=[requires(READ)], summary="Enabled currencies, the base one first")
async def list_currencies(session: DbSession) -> list[CurrencyOut]:
    return [
        CurrencyOut(code=c.code, is_base=c.is_base, decimals=currency.decimals(c.code))
        for c in await currency.currencies(session)
    ]


API = [
    list_products,
    create_product,
    export_products,
    get_product,
    update_product,
    list_units,
    list_tax_rates,
    list_currencies,
]
