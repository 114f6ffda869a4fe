"""JSON API for the product catalogue and what products are counted, taxed and priced in,
mounted under ``/api/t/{slug}``.

Reading needs ``core.product.read`` (every member has it), creating and
changing ``core.product.write``. Products are shared master data with no data
scope: whoever may read the catalogue sees all of it. Money is a decimal
string in JSON (``"12.50"``); a number is accepted on input and read exactly.
A refused product names the refused input in the error's ``field`` (``"sku"``,
``"sale_price"``, ``"uom_id"``...).

Currencies, exchange rates and tax rates are read with ``core.product.read``
too and managed with ``core.settings.manage``; the rules (the base currency
fixed once in use, tax rates immutable once created) are in
:mod:`core.products.currency` and :mod:`core.products.tax`, which also write
each change to the audit log. Rates are decimal strings as well, never floats.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from core.exchange.exports import MEDIA_TYPES
from core.exchange.products import export_product_list
from core.products import currency, services, tax
from core.products.models import Currency, ExchangeRate, Product, TaxRate
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

READ, WRITE = "core.product.read", "core.product.write"
SETTINGS = "core.settings.manage"
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


class TaxRateIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    rate: Decimal  # a fraction from 0 to below 1, at most 4 places: 13 % is "0.13"
    kind: str = "both"  # sale, purchase or both
    is_default: bool = False  # the default for its kind, in place of the previous one


class TaxRateChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change; a field left out stays. ``active: false`` archives (and is no longer
    the default). ``rate`` and ``kind`` never change: sent as they are, they are accepted."""

    name: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    is_default: bool | UnsetType = UNSET
    rate: Decimal | UnsetType = UNSET
    kind: str | UnsetType = UNSET


class CurrencyOut(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    is_base: bool
    decimals: int


class CurrencyIn(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # ISO 4217, any case


class BaseCurrencyOut(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    decimals: int
    # False once exchange rates or numbered documents exist: the base is then fixed.
    can_change: bool


class RateIn(msgspec.Struct, frozen=True, kw_only=True):
    rate: Decimal  # units of the base currency per unit of this one, at most 8 places


class RateOut(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    valid_on: date  # the rate holds from this day until the next entered one
    rate: Decimal


class RateOnDayOut(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    day: date
    rate: Decimal
    valid_on: date | None  # the entered rate that applies; None for the base currency (1)


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
    session: DbSession,
    actor: CurrentActor,
    product_id: FromPath[uuid.UUID],
    data: JSONBody[ProductChanges],
) -> ProductOut:
    """What changed goes on the product's timeline, by the member who changed it."""
    changes = msgspec.structs.asdict(data)
    product = await services.update_product(session, product_id, **changes, author_id=actor.user_id)
    return product_out(product)


@get("/units", guards=[requires(READ)], summary="Units of measure, by dimension")
async def list_units(session: DbSession) -> list[UnitOut]:
    return [
        UnitOut(id=u.id, code=u.code, name=u.name, dimension=u.dimension)
        for u in await services.units(session)
    ]


# --- tax rates ----------------------------------------------------------------------------


def _tax_rate_out(rate: TaxRate) -> TaxRateOut:
    return TaxRateOut(
        id=rate.id,
        name=rate.name,
        rate=rate.rate,
        kind=rate.kind,
        active=rate.active,
        is_default=rate.is_default,
    )


@get("/tax-rates", guards=[requires(READ)], summary="Tax rates, highest first")
async def list_tax_rates(
    session: DbSession, use: FromQuery[str | None] = None, include_inactive: FromQuery[bool] = False
) -> list[TaxRateOut]:
    """``use`` (sale or purchase) keeps the rates for it."""
    rates = await tax.tax_rates(session, use=use, include_inactive=include_inactive)
    return [_tax_rate_out(r) for r in rates]


@post("/tax-rates", guards=[requires(SETTINGS)], summary="Create a tax rate")
async def create_tax_rate(
    session: DbSession, actor: CurrentActor, data: JSONBody[TaxRateIn]
) -> TaxRateOut:
    rate = await tax.create_tax_rate(
        session,
        data.name,
        data.rate,
        kind=data.kind,
        is_default=data.is_default,
        actor_id=actor.user_id,
    )
    return _tax_rate_out(rate)


@patch(
    "/tax-rates/{tax_rate_id:uuid}",
    guards=[requires(SETTINGS)],
    summary="Rename, archive or make default a tax rate (its value never changes)",
)
async def update_tax_rate(
    session: DbSession,
    actor: CurrentActor,
    tax_rate_id: FromPath[uuid.UUID],
    data: JSONBody[TaxRateChanges],
) -> TaxRateOut:
    """To charge another rate, create a new one and archive this one (``active: false``)."""
    changes = msgspec.structs.asdict(data)
    return _tax_rate_out(
        await tax.update_tax_rate(session, tax_rate_id, **changes, actor_id=actor.user_id)
    )


# --- currencies and exchange rates ------------------------------------------------------------


def _currency_out(row: Currency) -> CurrencyOut:
    return CurrencyOut(code=row.code, is_base=row.is_base, decimals=currency.decimals(row.code))


async def _base_out(session: AsyncSession, code: str) -> BaseCurrencyOut:
    return BaseCurrencyOut(
        code=code,
        decimals=currency.decimals(code),
        can_change=not await currency.base_currency_in_use(session),
    )


def _rate_out(row: ExchangeRate) -> RateOut:
    return RateOut(currency=row.currency, valid_on=row.valid_on, rate=row.rate)


@get("/currencies", guards=[requires(READ)], summary="Enabled currencies, the base one first")
async def list_currencies(session: DbSession) -> list[CurrencyOut]:
    return [_currency_out(c) for c in await currency.currencies(session)]


@post("/currencies", guards=[requires(SETTINGS)], summary="Enable a currency")
async def enable_currency(
    session: DbSession, actor: CurrentActor, data: JSONBody[CurrencyIn]
) -> CurrencyOut:
    """Enabling one enabled before brings its earlier rates back with it."""
    return _currency_out(await currency.enable_currency(session, data.code, actor_id=actor.user_id))


@get("/currencies/base", guards=[requires(READ)], summary="The base currency")
async def get_base_currency(session: DbSession) -> BaseCurrencyOut:
    return await _base_out(session, await currency.base_currency(session))


@put(
    "/currencies/base",
    guards=[requires(SETTINGS)],
    summary="Set the base currency (until rates or numbered documents exist)",
)
async def set_base_currency(
    session: DbSession, actor: CurrentActor, data: JSONBody[CurrencyIn]
) -> BaseCurrencyOut:
    """Refused (409) once exchange rates or numbered documents use the current one."""
    row = await currency.set_base_currency(session, data.code, actor_id=actor.user_id)
    return await _base_out(session, row.code)


@delete(
    "/currencies/{code:str}",
    guards=[requires(SETTINGS)],
    summary="Disable a currency; its rates are kept",
)
async def disable_currency(session: DbSession, actor: CurrentActor, code: FromPath[str]) -> None:
    """The base currency cannot be disabled (409)."""
    await currency.disable_currency(session, code, actor_id=actor.user_id)


@get(
    "/currencies/{code:str}/rates",
    guards=[requires(READ)],
    summary="A currency's exchange rates, newest first",
)
async def list_rates(session: DbSession, code: FromPath[str]) -> list[RateOut]:
    return [_rate_out(r) for r in await currency.rates(session, code)]


@get(
    "/currencies/{code:str}/rates/{day:date}",
    guards=[requires(READ)],
    summary="The exchange rate in effect on a day",
)
async def rate_on_day(session: DbSession, code: FromPath[str], day: FromPath[date]) -> RateOnDayOut:
    """The latest rate entered on or before ``day`` (and the day it was entered for)."""
    rate, valid_on = await currency.effective_rate(session, code, day)
    return RateOnDayOut(currency=currency.check_code(code), day=day, rate=rate, valid_on=valid_on)


@put(
    "/currencies/{code:str}/rates/{day:date}",
    guards=[requires(SETTINGS)],
    summary="Enter (or correct) a currency's exchange rate from a day",
)
async def set_rate(
    session: DbSession,
    actor: CurrentActor,
    code: FromPath[str],
    day: FromPath[date],
    data: JSONBody[RateIn],
) -> RateOut:
    """``rate``: units of the base currency one unit of ``code`` is worth ("7.1" for USD in
    a CNY workspace), positive, at most 8 decimal places."""
    return _rate_out(await currency.set_rate(session, code, day, data.rate, actor_id=actor.user_id))


@delete(
    "/currencies/{code:str}/rates/{day:date}",
    guards=[requires(SETTINGS)],
    summary="Remove a rate entered by mistake",
)
async def delete_rate(
    session: DbSession, actor: CurrentActor, code: FromPath[str], day: FromPath[date]
) -> None:
    """The day then falls back to the rate before it."""
    await currency.delete_rate(session, code, day, actor_id=actor.user_id)


API = [
    list_products,
    create_product,
    export_products,
    get_product,
    update_product,
    list_units,
    list_tax_rates,
    create_tax_rate,
    update_tax_rate,
    list_currencies,
    enable_currency,
    get_base_currency,
    set_base_currency,
    disable_currency,
    list_rates,
    rate_on_day,
    set_rate,
    delete_rate,
]
