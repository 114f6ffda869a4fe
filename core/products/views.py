"""The product list page under ``/t/{slug}``: search and a link to the next page by SKU."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import get
from litestar.params import FromQuery
from litestar.response import Template

from core.errors import ValidationFailed
from core.exchange.imports import IMPORT_PERMISSION
from core.products import currency, services
from core.products.api import READ, WRITE, product_page
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.tenancy import requires


@get("/products", guards=[requires(READ)])
async def products_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
) -> Template:
    page = await product_page(session, search=q or None, after=after)
    try:
        base_currency: str | None = await currency.base_currency(session)
    except ValidationFailed:  # a workspace that has not chosen one: prices as plain numbers
        base_currency = None
    next_url = None
    if page.next_cursor:
        query = {"q": q, "after": page.next_cursor} if q else {"after": page.next_cursor}
        next_url = f"/t/{tenant.slug}/products?{urlencode(query)}"
    return Template(
        "products/index.html",
        context={
            "page": page,
            "slug": tenant.slug,
            "q": q,
            "units": {unit.id: unit.code for unit in await services.units(session)},
            "base_currency": base_currency,
            "next_url": next_url,
            "can_write": actor.can(WRITE),
            "can_import": actor.can(IMPORT_PERMISSION) and actor.can(WRITE),
        },
    )


PAGES = [products_page]
