"""Quote pages under ``/t/{slug}/crm/quotes``: the list, the form for a new draft (for a
customer, or from an opportunity with its lines), a quote's page (its lines with the stock
an enabled module reports, the totals, the draft's forms, sending by e-mail, the
customer's answer, revisions, the PDF, "Make a contract" once accepted, the timeline).

The same services and scopes as the JSON API. Each form posts to a path of its own and
goes back to the quote's page; a refusal is the page again with the reason beside its
input and what was typed (status 4xx, the request rolled back).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from core import contributions
from core.context import TenantContext
from core.errors import DomainError, ValidationFailed
from core.permissions import Actor
from core.products import tax
from core.records import access
from core.records.storage import file_store
from core.records.views import record_sections
from modules.crm import permissions as codes
from modules.crm.api.sales import pdf_response
from modules.crm.schemas.sales import QuoteChanges, QuoteIn, QuoteLineIn
from modules.crm.services import opportunities, quotes
from modules.crm.services.quotes import QuoteFilters
from modules.crm.views.common import page
from modules.crm.views.opportunities import (
    choices_of_contacts,
    choices_of_customers,
    choices_of_products,
)
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import Refusal, answer_form, read_day, read_decimal, read_id, typed_in
from web.htmx import wants_partial
from web.recovery import mailer
from web.tenancy import requires

TAB = "/crm/quotes"
STATUSES = ("draft", "sent", "accepted", "rejected", "superseded")


# --- the list --------------------------------------------------------------------------------


@get(TAB, guards=[requires(codes.QUOTE_READ)])
async def quotes_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    status: FromQuery[str] = "",
    q: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
) -> Template:
    filters = QuoteFilters(status=status if status in STATUSES else None, search=q or None)
    found = await quotes.list_quotes(session, actor, filters, cursor=after)
    more_url = None
    if found.next_cursor:
        query = {**({"status": status} if status else {}), **({"q": q} if q else {})}
        more_url = f"/t/{tenant.slug}{TAB}?{urlencode({**query, 'after': found.next_cursor})}"
    context = {"page": found, "first_page": after is None, "more_url": more_url}
    if wants_partial(request) and after is not None:
        return page("crm/quotes/_rows.html", tenant, actor, TAB, **context)
    return page(
        "crm/quotes/index.html",
        tenant,
        actor,
        TAB,
        **context,
        filters={"status": status, "q": q},
        statuses=STATUSES,
        can_write=actor.can(codes.QUOTE_WRITE),
    )


# --- a new quote -----------------------------------------------------------------------------

NEW_FIELDS = ("party_id", "opportunity_id", "valid_until", "notes")


async def _new_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
) -> Template:
    deal = None
    deal_id = read_id("opportunity_id", form.get("opportunity_id", ""))
    if deal_id is not None:
        deal = await opportunities.get_opportunity(session, actor, deal_id)
    return page(
        "crm/quotes/new.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=form,
        refusal=refusal,
        deal=deal,
        customers=await choices_of_customers(session, actor) if deal is None else [],
    )


@get(f"{TAB}/new", guards=[requires(codes.QUOTE_WRITE)])
async def new_quote_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    opportunity_id: FromQuery[str] = "",
    party_id: FromQuery[str] = "",
) -> Template:
    form = {
        "party_id": party_id,
        "opportunity_id": opportunity_id,
        "valid_until": (date.today() + timedelta(days=quotes.VALID_DAYS)).isoformat(),
        "notes": "",
    }
    return await _new_page(session, tenant, actor, form)


@post(f"{TAB}/new", guards=[requires(codes.QUOTE_WRITE)])
async def create_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    form = typed_in(data, *NEW_FIELDS)
    made: list[uuid.UUID] = []

    async def create() -> None:
        deal_id = read_id("opportunity_id", form["opportunity_id"])
        party_id = read_id("party_id", form["party_id"])
        if deal_id is not None:
            party_id = (await opportunities.get_opportunity(session, actor, deal_id)).party_id
        if party_id is None:
            raise ValidationFailed("Choose the customer.", field="party_id")
        valid_until = read_day("valid_until", form["valid_until"])
        if valid_until is None:
            raise ValidationFailed("Enter the date the quote is valid until.", field="valid_until")
        quote = await quotes.create_quote(
            session,
            actor,
            QuoteIn(
                party_id=party_id,
                opportunity_id=deal_id,
                valid_until=valid_until,
                notes=form["notes"],
            ),
        )
        made.append(quote.id)

    return await answer_form(
        session,
        "new",
        form,
        create,
        back=lambda: f"/t/{tenant.slug}{TAB}/{made[0]}",
        refused=lambda refusal: _new_page(session, tenant, actor, form, refusal=refusal),
    )


# --- a quote's page --------------------------------------------------------------------------


async def _detail(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: Any,
    quote_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    quote = await quotes.get_quote(session, actor, quote_id)
    here = f"/t/{tenant.slug}{TAB}/{quote.id}"
    lines = await quotes.lines_of(session, quote.id)
    stock = await contributions.stock_levels(
        registry, tenant, session, list(dict.fromkeys(line.product_id for line in lines))
    )
    sections = await record_sections(
        session, tenant, actor, access.record_type(registry, tenant, quotes.RECORD), quote.id, here
    )
    deal = None
    if quote.opportunity_id is not None and actor.can(codes.OPPORTUNITY_READ):
        try:
            deal = await opportunities.get_opportunity(session, actor, quote.opportunity_id)
        except DomainError:
            deal = None  # outside the member's scope: shown without its link
    can_write = actor.can(codes.QUOTE_WRITE)
    draft = quote.status == "draft"
    return page(
        "crm/quotes/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        quote=quote,
        here=here,
        refusal=refusal,
        lines=lines,
        skus=await quotes.skus_of(session, lines),
        stock=stock,
        customer_name=await quotes.customer_name(session, quote),
        deal=deal,
        revisions=await quotes.revisions_of(session, actor, quote),
        contact_email=await quotes.contact_email(session, quote) or "",
        products=await choices_of_products(session) if can_write and draft else [],
        tax_rates=await tax.tax_rates(session, use="sale") if can_write and draft else [],
        contacts=await choices_of_contacts(session, quote.party_id) if can_write and draft else [],
        percent=tax.percent_label,
        can_write=can_write,
        can_contract=actor.can(codes.CONTRACT_WRITE),
        **sections,
    )


@get(f"{TAB}/{{quote_id:uuid}}", guards=[requires(codes.QUOTE_READ)])
async def quote_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
) -> Template:
    return await _detail(session, tenant, actor, registry, quote_id)


async def _on_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: Any,
    quote_id: uuid.UUID,
    form: str,
    form_typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
    *,
    back: str | Callable[[], str] | None = None,
) -> Response[Any]:
    """A form of the quote's page: back to the page (or ``back``), or the page with the
    refusal."""
    return await answer_form(
        session,
        form,
        form_typed,
        action,
        back=back or f"/t/{tenant.slug}{TAB}/{quote_id}",
        refused=lambda refusal: _detail(
            session, tenant, actor, registry, quote_id, refusal=refusal
        ),
    )


HEADER_FIELDS = ("contact_id", "valid_until", "notes")


@post(f"{TAB}/{{quote_id:uuid}}/edit", guards=[requires(codes.QUOTE_WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, *HEADER_FIELDS)

    async def update() -> None:
        valid_until = read_day("valid_until", form["valid_until"])
        if valid_until is None:
            raise ValidationFailed("Enter the date the quote is valid until.", field="valid_until")
        changes = QuoteChanges(
            contact_id=read_id("contact_id", form["contact_id"]),
            valid_until=valid_until,
            notes=form["notes"],
        )
        await quotes.update_quote(session, actor, quote_id, changes)

    return await _on_page(session, tenant, actor, registry, quote_id, "header", form, update)


LINE_FIELDS = (
    "product_id",
    "description",
    "quantity",
    "unit_price",
    "discount_percent",
    "tax_rate_id",
)
PRODUCT_RATE = "product"  # the tax select's value for "the product's own rate"


@post(f"{TAB}/{{quote_id:uuid}}/lines", guards=[requires(codes.QUOTE_WRITE)])
async def add_line_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, *LINE_FIELDS)

    async def add() -> None:
        product_id = read_id("product_id", form["product_id"])
        quantity = read_decimal("quantity", form["quantity"])
        if product_id is None:
            raise ValidationFailed("Choose the product.", field="product_id")
        if quantity is None:
            raise ValidationFailed("Enter the quantity.", field="quantity")
        rate = form["tax_rate_id"]
        line = QuoteLineIn(
            product_id=product_id,
            quantity=quantity,
            unit_price=read_decimal("unit_price", form["unit_price"]),
            discount_percent=read_decimal(
                "discount_percent", form["discount_percent"], blank=Decimal(0)
            )
            or Decimal(0),
            tax_rate_id=UNSET if rate in ("", PRODUCT_RATE) else read_id("tax_rate_id", rate),
            description=form["description"] if form["description"].strip() else None,
        )
        await quotes.add_line(session, actor, quote_id, line)

    return await _on_page(session, tenant, actor, registry, quote_id, "line", form, add)


@post(
    f"{TAB}/{{quote_id:uuid}}/lines/{{line_id:uuid}}/delete", guards=[requires(codes.QUOTE_WRITE)]
)
async def remove_line_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
    line_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _on_page(
        session,
        tenant,
        actor,
        registry,
        quote_id,
        f"remove-{line_id}",
        {},
        lambda: quotes.remove_line(session, actor, quote_id, line_id),
    )


@post(f"{TAB}/{{quote_id:uuid}}/send", guards=[requires(codes.QUOTE_WRITE)])
async def send_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    """Mail the PDF to the address typed (the form offers the contact's)."""
    form = typed_in(data, "to")
    store = file_store(request.app.state.settings)
    return await _on_page(
        session,
        tenant,
        actor,
        registry,
        quote_id,
        "send",
        form,
        lambda: quotes.send_quote(
            session, actor, tenant, mailer(request), store, quote_id, form["to"]
        ),
    )


def _action(path: str, act: Callable[..., Awaitable[Any]]) -> Any:
    """A button of the quote's page (no typing): mark sent, accept, reject, revise."""

    @post(
        f"{TAB}/{{quote_id:uuid}}/{path}",
        guards=[requires(codes.QUOTE_WRITE)],
        name=f"crm-quote-page-{path}",
    )
    async def button(
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        registry: Registry,
        quote_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        done: list[Any] = []

        async def run() -> None:
            done.append(await act(session, actor, quote_id))

        return await _on_page(
            session,
            tenant,
            actor,
            registry,
            quote_id,
            path,
            {},
            run,
            back=lambda: f"/t/{tenant.slug}{TAB}/{done[0].id}",  # revising: the new revision
        )

    return button


@get(f"{TAB}/{{quote_id:uuid}}/pdf", guards=[requires(codes.QUOTE_READ)])
async def pdf_download(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    quote_id: FromPath[uuid.UUID],
) -> Response[bytes]:
    quote = await quotes.get_quote(session, actor, quote_id)
    store = file_store(request.app.state.settings)
    return pdf_response(
        quotes.pdf_name(quote), await quotes.quote_pdf_bytes(session, tenant, store, quote)
    )


PAGES = [
    quotes_page,
    new_quote_page,
    create_from_page,
    quote_page,
    update_from_page,
    add_line_from_page,
    remove_line_from_page,
    send_from_page,
    _action("mark-sent", quotes.mark_sent),
    _action("accept", quotes.accept_quote),
    _action("reject", quotes.reject_quote),
    _action("revise", quotes.revise_quote),
    pdf_download,
]
