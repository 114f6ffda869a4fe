"""Opportunity pages under ``/t/{slug}/crm/opportunities``: the list (filters, keyset
"More", the weighted forecast), the board (a column per stage; cards dragged between
columns, or moved with the "Move to" form on each card without JavaScript), the form for a
new one, an opportunity's page (stage, won / lost with the reason, reopening, product
lines, its quotes, attachments and timeline) and its edit form.

The same services and scopes as the JSON API. A form's refusal is shown beside its input
with what was typed (``web.forms.Refusal``); the answer's status rolls the request back.
On the board a move posts by htmx and the answer swaps the two columns it touched
(``#stage-{id}``, out of band); a move into a won or lost stage first asks for the reason
in ``#board-dialog``. Without JavaScript the same forms post and redirect back.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import Conflict, DomainError, ValidationFailed
from core.i18n import N_
from core.models import Membership, User
from core.parties.models import Party
from core.permissions import Actor, visible
from core.products.models import Product
from core.records import access
from core.records.views import record_sections
from modules.crm import permissions as codes
from modules.crm.schemas.sales import OpportunityChanges, OpportunityLineIn
from modules.crm.services import opportunities, pipelines, quotes
from modules.crm.services.opportunities import NewOpportunity, OpportunityFilters
from modules.crm.views.common import page
from web.auth import FormData, local_target
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import (
    Refusal,
    answer_form,
    attempt,
    read_day,
    read_decimal,
    read_id,
    read_version,
    saved_since,
    typed_in,
)
from web.htmx import wants_partial
from web.tenancy import requires

TAB = "/crm/opportunities"
CHOICES_MAX = 500  # customers, products and members offered in a form's select


# --- the choices a form offers (shared with the quote, contract and ticket pages) ------------


async def choices_of_products(session: AsyncSession) -> list[tuple[str, str, Decimal]]:
    """Active products for a line's select: id, "SKU · name", sale price."""
    rows = await session.execute(
        select(Product.id, Product.sku, Product.name, Product.sale_price)
        .where(Product.active)
        .order_by(Product.sku)
        .limit(CHOICES_MAX)
    )
    return [(str(pid), f"{sku} · {name}", price) for pid, sku, name, price in rows]


async def choices_of_customers(session: AsyncSession, actor: Actor) -> list[tuple[str, str]]:
    """Customers in the actor's scope, by name, for a select."""
    rows = await session.execute(
        select(Party.id, Party.name)
        .where(
            Party.is_customer,
            Party.active,
            Party.merged_into_id.is_(None),
            visible(actor, "crm.customer", Party),
        )
        .order_by(Party.name)
        .limit(CHOICES_MAX)
    )
    return [(str(pid), name) for pid, name in rows]


async def choices_of_contacts(session: AsyncSession, party_id: uuid.UUID) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(Party.id, Party.name)
        .where(Party.company_id == party_id, Party.kind == "person", Party.active)
        .order_by(Party.name)
    )
    return [(str(pid), name) for pid, name in rows]


async def choices_of_members(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.active)
        .order_by(User.display_name)
        .limit(CHOICES_MAX)
    )
    return [(str(uid), name) for uid, name in rows]


# --- the list and the forecast ---------------------------------------------------------------


@get(TAB, guards=[requires(codes.OPPORTUNITY_READ)])
async def opportunities_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    pipeline_id: FromQuery[str] = "",
    stage_id: FromQuery[str] = "",
    owner_id: FromQuery[str] = "",
    status: FromQuery[str] = "",
    close_month: FromQuery[str] = "",
    q: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
) -> Template:
    shown = {
        "pipeline_id": pipeline_id,
        "stage_id": stage_id,
        "owner_id": owner_id,
        "status": status,
        "close_month": close_month,
        "q": q,
    }
    error: DomainError | None = None
    try:
        filters = OpportunityFilters(
            pipeline_id=read_id("pipeline_id", pipeline_id),
            stage_id=read_id("stage_id", stage_id),
            owner_id=read_id("owner_id", owner_id),
            status=status if status in ("open", "won", "lost") else None,
            close_month=opportunities.month_of(close_month),
            search=q or None,
        )
    except ValidationFailed as refused:
        error, filters = refused, OpportunityFilters()
    found = await opportunities.list_opportunities(session, actor, filters, cursor=after)
    more_url = None
    if found.next_cursor:
        query = {**{k: v for k, v in shown.items() if v}, "after": found.next_cursor}
        more_url = f"/t/{tenant.slug}{TAB}?{urlencode(query)}"
    context = {
        "page": found,
        "first_page": after is None,
        "more_url": more_url,
    }
    if wants_partial(request) and after is not None:
        return page("crm/opportunities/_rows.html", tenant, actor, TAB, **context)
    listed = await pipelines.pipelines(session, include_archived=True)
    stages = await pipelines.stages_of(session, [p.id for p in listed])
    return page(
        "crm/opportunities/index.html",
        tenant,
        actor,
        TAB,
        **context,
        filters=shown,
        filter_error=error,
        pipelines=listed,
        stages=stages,
        members=await choices_of_members(session),
        forecast=await opportunities.forecast(session, actor, filters.pipeline_id),
        can_write=actor.can(codes.OPPORTUNITY_WRITE),
    )


# --- the board -------------------------------------------------------------------------------


def _board_url(tenant: TenantContext, pipeline_id: uuid.UUID) -> str:
    return f"/t/{tenant.slug}{TAB}/board?{urlencode({'pipeline': str(pipeline_id)})}"


@get(f"{TAB}/board", guards=[requires(codes.OPPORTUNITY_READ)])
async def board_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, pipeline: FromQuery[str] = ""
) -> Template:
    """The board of ``pipeline`` (the default pipeline when none is chosen)."""
    chosen = read_id("pipeline", pipeline)
    shown = await opportunities.board(session, actor, chosen)
    return page(
        "crm/opportunities/board.html",
        tenant,
        actor,
        TAB,
        board=shown,
        pipelines=await pipelines.pipelines(session),
        can_write=actor.can(codes.OPPORTUNITY_WRITE),
    )


# --- a new opportunity -----------------------------------------------------------------------

NEW_FIELDS = ("name", "party_id", "amount", "expected_close_on", "pipeline_id")


async def _new_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
) -> Template:
    return page(
        "crm/opportunities/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        opportunity=None,
        form=form,
        refusal=refusal,
        customers=await choices_of_customers(session, actor),
        pipelines=await pipelines.pipelines(session),
        members=[],
        contacts=[],
    )


@get(f"{TAB}/new", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def new_opportunity_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, party_id: FromQuery[str] = ""
) -> Template:
    return await _new_page(session, tenant, actor, {"party_id": party_id})


@post(f"{TAB}/new", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def create_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    form = typed_in(data, *NEW_FIELDS)
    made: list[uuid.UUID] = []

    async def create() -> None:
        party_id = read_id("party_id", form["party_id"])
        if party_id is None:
            raise ValidationFailed("Choose the customer.", field="party_id")
        opportunity = await opportunities.create_opportunity(
            session,
            actor,
            NewOpportunity(
                name=form["name"],
                party_id=party_id,
                amount=read_decimal("amount", form["amount"], blank=Decimal(0)) or Decimal(0),
                expected_close_on=read_day("expected_close_on", form["expected_close_on"]),
                pipeline_id=read_id("pipeline_id", form["pipeline_id"]),
            ),
        )
        made.append(opportunity.id)

    return await answer_form(
        session,
        "new",
        form,
        create,
        back=lambda: f"/t/{tenant.slug}{TAB}/{made[0]}",
        refused=lambda refusal: _new_page(session, tenant, actor, form, refusal=refusal),
    )


# --- an opportunity's page -------------------------------------------------------------------


async def _detail(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: Any,
    opportunity_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    opportunity = await opportunities.get_opportunity(session, actor, opportunity_id)
    view = await opportunities.view_of(session, opportunity)
    here = f"/t/{tenant.slug}{TAB}/{opportunity.id}"
    sections = await record_sections(
        session,
        tenant,
        actor,
        access.record_type(registry, tenant, opportunities.RECORD),
        opportunity.id,
        back=here,
    )
    related = None
    if actor.can(codes.QUOTE_READ):
        related = await quotes.list_quotes(
            session, actor, quotes.QuoteFilters(opportunity_id=opportunity.id), limit=100
        )
    can_write = actor.can(codes.OPPORTUNITY_WRITE)
    return page(
        "crm/opportunities/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        view=view,
        here=here,
        refusal=refusal,
        quotes=related,
        products=await choices_of_products(session) if can_write else [],
        can_write=can_write,
        can_quote=actor.can(codes.QUOTE_WRITE),
        **sections,
    )


@get(f"{TAB}/{{opportunity_id:uuid}}", guards=[requires(codes.OPPORTUNITY_READ)])
async def opportunity_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    opportunity_id: FromPath[uuid.UUID],
) -> Template:
    return await _detail(session, tenant, actor, registry, opportunity_id)


async def _on_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: Any,
    opportunity_id: uuid.UUID,
    form: str,
    form_typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    """A form of the opportunity's page: back to the page, or the page with the refusal."""
    return await answer_form(
        session,
        form,
        form_typed,
        action,
        back=f"/t/{tenant.slug}{TAB}/{opportunity_id}",
        refused=lambda refusal: _detail(
            session, tenant, actor, registry, opportunity_id, refusal=refusal
        ),
    )


@post(f"{TAB}/{{opportunity_id:uuid}}/close", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def close_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    opportunity_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    """Won or lost (``outcome``), with the reason."""
    outcome = "won" if data.get("outcome") == "won" else "lost"
    form = typed_in(data, "reason")
    return await _on_page(
        session,
        tenant,
        actor,
        registry,
        opportunity_id,
        outcome,
        form,
        lambda: opportunities.close_opportunity(
            session, actor, opportunity_id, won=outcome == "won", reason=form["reason"]
        ),
    )


@post(f"{TAB}/{{opportunity_id:uuid}}/reopen", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def reopen_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    opportunity_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, "stage_id")

    async def reopen() -> None:
        stage_id = read_id("stage_id", form["stage_id"])
        await opportunities.reopen_opportunity(session, actor, opportunity_id, stage_id)

    return await _on_page(session, tenant, actor, registry, opportunity_id, "reopen", form, reopen)


LINE_FIELDS = ("product_id", "quantity", "unit_price")


@post(f"{TAB}/{{opportunity_id:uuid}}/lines", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def add_line_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    opportunity_id: FromPath[uuid.UUID],
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
        line = OpportunityLineIn(
            product_id=product_id,
            quantity=quantity,
            unit_price=read_decimal("unit_price", form["unit_price"]),
        )
        await opportunities.add_line(session, actor, opportunity_id, line)

    return await _on_page(session, tenant, actor, registry, opportunity_id, "line", form, add)


@post(
    f"{TAB}/{{opportunity_id:uuid}}/lines/{{line_id:uuid}}/delete",
    guards=[requires(codes.OPPORTUNITY_WRITE)],
)
async def remove_line_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    opportunity_id: FromPath[uuid.UUID],
    line_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _on_page(
        session,
        tenant,
        actor,
        registry,
        opportunity_id,
        f"remove-{line_id}",
        {},
        lambda: opportunities.remove_line(session, actor, opportunity_id, line_id),
    )


# --- moving: from the board (htmx or not) and from the page ----------------------------------


async def _moved_columns(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    moved: opportunities.Moved,
) -> Template:
    """The columns a move touched, swapped in place out of band, and the dialog emptied."""
    shown = await opportunities.board(
        session,
        actor,
        moved.opportunity.pipeline_id,
        only_stages={moved.left, moved.entered},
    )
    return page(
        "crm/opportunities/_moved.html",
        tenant,
        actor,
        TAB,
        board=shown,
        can_write=actor.can(codes.OPPORTUNITY_WRITE),
    )


@post(f"{TAB}/{{opportunity_id:uuid}}/move", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def move_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    opportunity_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    """``stage_id`` and, into a won or lost stage, ``reason``. ``next`` is where the
    browser goes back to (the board, or the opportunity's page)."""
    form = typed_in(data, "stage_id", "reason")
    moved: list[opportunities.Moved] = []

    async def move() -> None:
        stage_id = read_id("stage_id", form["stage_id"])
        if stage_id is None:
            raise ValidationFailed("Choose the stage to move it to.", field="stage_id")
        reason = form["reason"] if "reason" in data else None
        moved.append(
            await opportunities.move_opportunity(session, actor, opportunity_id, stage_id, reason)
        )

    error = await attempt(session, move)
    back = local_target(data.get("next", ""), f"/t/{tenant.slug}{TAB}/{opportunity_id}")
    if error is None:
        if wants_partial(request):
            return await _moved_columns(session, tenant, actor, moved[0])
        return Redirect(back, status_code=HTTP_303_SEE_OTHER)
    refusal = Refusal.of("move", form, error)
    if "reason" not in data and error.params.get("field") == "reason":
        refusal = None  # not refused: asked for the reason the first time
    opportunity = await opportunities.get_opportunity(session, actor, opportunity_id)
    context = {
        "opportunity": opportunity,
        "stage_id": form["stage_id"],
        "refusal": refusal,
        "error": error,
        "next": back,
    }
    if wants_partial(request):
        return page("crm/opportunities/_reason.html", tenant, actor, TAB, **context)
    return page(
        "crm/opportunities/close.html",
        tenant,
        actor,
        TAB,
        status_code=error.status_code if refusal else 200,
        **context,
    )


# --- changing it -----------------------------------------------------------------------------

#: The inputs of the edit form, with their labels (msgids).
EDIT_LABELS = {
    "name": N_("Name"),
    "amount": N_("Amount"),
    "expected_close_on": N_("Expected close"),
    "contact_id": N_("Contact"),
    "owner_id": N_("Owner"),
}
EDIT_FIELDS = ("version", *EDIT_LABELS)


def _form_of(opportunity: Any) -> dict[str, str]:
    return {
        "version": str(opportunity.version),
        "name": opportunity.name,
        "amount": str(opportunity.amount),
        "expected_close_on": opportunity.expected_close_on.isoformat()
        if opportunity.expected_close_on
        else "",
        "contact_id": str(opportunity.contact_id or ""),
        "owner_id": str(opportunity.owner_id or ""),
    }


async def _edit_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    opportunity: Any,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
) -> Template:
    contacts = await choices_of_contacts(session, opportunity.party_id)
    members = await choices_of_members(session)
    saved_now: list[tuple[str, str]] = []
    if refusal and isinstance(refusal.error, Conflict):
        names = dict(contacts) | dict(members)
        saved_now = saved_since(form, _form_of(opportunity), EDIT_LABELS, names)
    return page(
        "crm/opportunities/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        opportunity=opportunity,
        has_lines=bool(await opportunities.lines_of(session, opportunity.id)),
        form=form,
        refusal=refusal,
        saved_now=saved_now,
        customers=[],
        pipelines=[],
        contacts=contacts,
        members=members,
    )


@get(f"{TAB}/{{opportunity_id:uuid}}/edit", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def edit_opportunity_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    opportunity_id: FromPath[uuid.UUID],
) -> Template:
    opportunity = await opportunities.get_opportunity(session, actor, opportunity_id)
    return await _edit_page(session, tenant, actor, opportunity, _form_of(opportunity))


@post(f"{TAB}/{{opportunity_id:uuid}}/edit", guards=[requires(codes.OPPORTUNITY_WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    opportunity_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    opportunity = await opportunities.get_opportunity(session, actor, opportunity_id)
    form = typed_in(data, *EDIT_FIELDS)

    async def update() -> None:
        owner_id = read_id("owner_id", form["owner_id"])
        changes = OpportunityChanges(
            version=read_version(form["version"]),
            name=form["name"],
            expected_close_on=read_day("expected_close_on", form["expected_close_on"]),
            contact_id=read_id("contact_id", form["contact_id"]),
            **({"owner_id": owner_id} if owner_id else {}),
            # With product lines the form shows the amount without an input for it.
            **(
                {"amount": read_decimal("amount", form["amount"], blank=Decimal(0))}
                if "amount" in data
                else {}
            ),
        )
        await opportunities.update_opportunity(session, actor, opportunity_id, changes)

    return await answer_form(
        session,
        "edit",
        form,
        update,
        back=f"/t/{tenant.slug}{TAB}/{opportunity_id}",
        refused=lambda refusal: _edit_page(
            session, tenant, actor, opportunity, form, refusal=refusal
        ),
    )


PAGES = [
    opportunities_page,
    board_page,
    new_opportunity_page,
    create_from_page,
    opportunity_page,
    close_from_page,
    reopen_from_page,
    add_line_from_page,
    remove_line_from_page,
    move_from_page,
    edit_opportunity_page,
    update_from_page,
]
