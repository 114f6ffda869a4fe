"""Product pages under ``/t/{slug}``: the list (search, a link to the next page by SKU), a
product's page (with the panels enabled modules contribute, its attachments and timeline),
and the form that creates or changes one.

The same services and guards as the JSON API. The form reads its text into the
service's arguments; whatever is refused, by the form or by the service, is shown
beside its input with what was typed kept, and the answer's 4xx status rolls the
request back, so a refused form writes nothing. A product is archived (the form's
"Active" box), never deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core import contributions
from core.context import TenantContext
from core.errors import DomainError, ValidationFailed
from core.exchange.imports import IMPORT_PERMISSION, decimal
from core.products import currency, services, tax
from core.products.api import READ, WRITE, product_page
from core.products.models import PRODUCT_KINDS, Product
from core.records import access
from core.records.views import record_sections
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires


async def _base_currency(session: AsyncSession) -> str | None:
    """The workspace's base currency; None before one is chosen (prices as plain numbers)."""
    try:
        return await currency.base_currency(session)
    except ValidationFailed:
        return None


# --- the list ----------------------------------------------------------------------------------


@get("/products", guards=[requires(READ)])
async def products_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    archived: FromQuery[bool] = False,
    after: FromQuery[str | None] = None,
) -> Template:
    """``archived`` lists the archived products beside the active ones."""
    page = await product_page(
        session, search=q or None, active=None if archived else True, after=after
    )
    next_url = None
    if page.next_cursor:
        query = {
            **({"q": q} if q else {}),
            **({"archived": "true"} if archived else {}),
            "after": page.next_cursor,
        }
        next_url = f"/t/{tenant.slug}/products?{urlencode(query)}"
    return Template(
        "products/index.html",
        context={
            "page": page,
            "slug": tenant.slug,
            "q": q,
            "archived": archived,
            "units": {unit.id: unit.code for unit in await services.units(session)},
            "base_currency": await _base_currency(session),
            "next_url": next_url,
            "can_write": actor.can(WRITE),
            "can_import": actor.can(IMPORT_PERMISSION) and actor.can(WRITE),
        },
    )


# --- a product's page --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownConversion:
    """``1 from_unit = factor to_unit``; ``own`` when it is this product's alone."""

    from_unit: str
    to_unit: str
    factor: Decimal
    own: bool


async def _shown_conversions(session: AsyncSession, product: Product) -> list[ShownConversion]:
    codes = {unit.id: unit.code for unit in await services.units(session)}
    return [
        ShownConversion(
            from_unit=codes[c.from_uom_id],
            to_unit=codes[c.to_uom_id],
            factor=c.factor.normalize(),  # 12.000000 reads as 12, 0.000001 keeps its places
            own=c.product_id is not None,
        )
        for c in await services.conversions_of(session, product)
    ]


@get("/products/{product_id:uuid}", guards=[requires(READ)])
async def product_detail(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    product_id: FromPath[uuid.UUID],
) -> Template:
    product = await services.get_product(session, product_id)
    here = f"/t/{tenant.slug}/products/{product.id}"
    panels = await contributions.record_panels(
        registry, tenant, session, actor, services.RECORD, product.id
    )
    sections = await record_sections(
        session,
        tenant,
        actor,
        access.record_type(registry, tenant, services.RECORD),
        product.id,
        back=here,
    )
    category = None
    if product.category_id is not None:
        category = (await services.category_paths(session)).get(product.category_id)
    tax_rate = None
    if product.tax_rate_id is not None:
        tax_rate = await tax.get_tax_rate(session, product.tax_rate_id)
    return Template(
        "products/detail.html",
        context={
            "slug": tenant.slug,
            "product": product,
            "category": category,
            "unit": await services.get_unit(session, product.uom_id),
            "conversions": await _shown_conversions(session, product),
            "tax_rate": tax_rate,
            "base_currency": await _base_currency(session),
            "can_write": actor.can(WRITE),
            "panels": panels,
            **sections,
        },
    )


# --- the form: a new product, or changes to one ------------------------------------------------


def _reference(value: str) -> uuid.UUID | None:
    """A select's value: blank is none; anything but an id did not come from the list."""
    if not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValidationFailed("Choose one from the list.") from None


def _unit(value: str) -> uuid.UUID:
    unit_id = _reference(value)
    if unit_id is None:
        raise ValidationFailed("Choose the unit it is counted in.")
    return unit_id


def _amount(value: str) -> Decimal:
    """Money as typed ("1,234.50", "¥12"); blank is zero. The service checks the rest."""
    return decimal(value) if value.strip() else Decimal(0)


_READERS = {
    "sku": str,
    "name": str,
    "kind": str,
    "category_id": _reference,
    "uom_id": _unit,
    "sale_price": _amount,
    "standard_cost": _amount,
    "tax_rate_id": _reference,
    "barcode": lambda value: value.strip() or None,
}
FORM_FIELDS = (*_READERS, "active")


def _read_form(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, DomainError]]:
    """The form's text as the service's arguments, and what could not be read, by field."""
    values: dict[str, Any] = {"active": bool(form.get("active"))}
    refused: dict[str, DomainError] = {}
    for field, read in _READERS.items():
        try:
            values[field] = read(form.get(field, ""))
        except DomainError as error:
            refused[field] = error
    return values, refused


def _form_of(product: Product) -> dict[str, str]:
    """A product as the form shows it, every value as text."""
    return {
        "sku": product.sku,
        "name": product.name,
        "kind": product.kind,
        "category_id": str(product.category_id or ""),
        "uom_id": str(product.uom_id),
        "sale_price": str(product.sale_price),
        "standard_cost": str(product.standard_cost),
        "tax_rate_id": str(product.tax_rate_id or ""),
        "barcode": product.barcode or "",
        "active": "on" if product.active else "",
    }


async def _form_page(
    session: AsyncSession,
    tenant: TenantContext,
    form: dict[str, str],
    *,
    product: Product | None = None,
    refused: dict[str, DomainError] | None = None,
    status_code: int = 200,
) -> Template:
    """The form, new (no ``product``) or to change ``product``; ``refused`` maps each input
    to its message (``""`` for one that belongs to no input)."""
    rates = await tax.tax_rates(session)
    if product is not None and product.tax_rate_id not in {None, *(r.id for r in rates)}:
        rates.append(await tax.get_tax_rate(session, product.tax_rate_id))  # archived since
    base = f"/t/{tenant.slug}/products"
    return Template(
        "products/form.html",
        context={
            "slug": tenant.slug,
            "product": product,
            "action": f"{base}/{product.id}/edit" if product else f"{base}/new",
            "form": form,
            "refused": refused or {},
            "kinds": PRODUCT_KINDS,
            "categories": [
                (str(category_id), path)
                for category_id, path in (await services.category_paths(session)).items()
            ],
            "units": [(str(u.id), f"{u.name} ({u.code})") for u in await services.units(session)],
            "tax_rates": [(str(r.id), r.name) for r in rates],
            "base_currency": await _base_currency(session),
        },
        status_code=status_code,
    )


async def _save(
    session: AsyncSession,
    tenant: TenantContext,
    form: dict[str, str],
    save: Callable[..., Awaitable[Product]],
    product: Product | None = None,
) -> Response[Any]:
    """Read the form and ``await save(**values)``; the product's page after, or the form
    again with each refusal beside its input (its 4xx status rolls everything back)."""
    values, refused = _read_form(form)
    if refused:
        status = max(error.status_code for error in refused.values())
        return await _form_page(
            session, tenant, form, product=product, refused=refused, status_code=status
        )
    try:
        saved = await save(**values)
    except DomainError as error:
        field = error.params.get("field")
        shown = {field if field in FORM_FIELDS else "": error}
        return await _form_page(
            session, tenant, form, product=product, refused=shown, status_code=error.status_code
        )
    return Redirect(f"/t/{tenant.slug}/products/{saved.id}", status_code=HTTP_303_SEE_OTHER)


def _typed(data: FormData) -> dict[str, str]:
    return {field: data[field] for field in FORM_FIELDS if field in data}


@get("/products/new", guards=[requires(WRITE)])
async def new_product_page(session: DbSession, tenant: CurrentTenant) -> Template:
    return await _form_page(session, tenant, {"kind": "stockable", "active": "on"})


@post("/products/new", guards=[requires(WRITE)])
async def create_from_page(
    session: DbSession, tenant: CurrentTenant, data: FormData
) -> Response[Any]:
    async def create(**values: Any) -> Product:
        return await services.create_product(session, **values)

    return await _save(session, tenant, _typed(data), create)


@get("/products/{product_id:uuid}/edit", guards=[requires(WRITE)])
async def edit_product_page(
    session: DbSession, tenant: CurrentTenant, product_id: FromPath[uuid.UUID]
) -> Template:
    product = await services.get_product(session, product_id)
    return await _form_page(session, tenant, _form_of(product), product=product)


@post("/products/{product_id:uuid}/edit", guards=[requires(WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    product_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    product = await services.get_product(session, product_id)

    async def update(**values: Any) -> Product:
        return await services.update_product(session, product_id, **values, author_id=actor.user_id)

    return await _save(session, tenant, _typed(data), update, product)


PAGES = [
    products_page,
    new_product_page,
    create_from_page,
    product_detail,
    edit_product_page,
    update_from_page,
]
