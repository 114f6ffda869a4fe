"""Customer pages under ``/t/{slug}/crm/customers``: the list and a customer's page.

- the list: search, filters (stage, level, source, industry, tag, owner), by name, "More"
  by htmx (the keyset cursor), and a new customer;
- a customer's page: the header (owner, stage, level, source, industry, tags) with links
  to its edit page and the release page (``customer_forms``) and the transfer form; the
  contacts with the form that adds one; the follow-ups with their form; read-only lists
  of the customer's opportunities, quotes, contracts, payments and tickets (each within
  its own scope, for those with its read right, linking to its page); the party's
  attachments and timeline (core's sections, when the member's party scope shows it);
  and the panels other enabled modules contribute to a party's page;
- CRM's own panel on core's party page (:func:`party_panels`, through the
  ``atrium_record_panels`` hook).

The same services and guards as the JSON API. A form's action runs in a savepoint
(``web.forms.attempt``): a refusal writes nothing and is shown beside its input with what
was typed — with htmx as its section (200), without as the whole page with the error's
status; an accepted post answers 303 (or, with htmx, the section again).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import contributions
from core.context import TenantContext
from core.errors import NotFound, ValidationFailed
from core.i18n import N_
from core.identity.profile import time_zone_of
from core.parties.models import Party
from core.permissions import Actor, visible
from core.plugins.registry import ModuleRegistry
from core.plugins.results import Panel
from core.records import access
from core.records.views import record_sections
from modules.crm import permissions as codes
from modules.crm.models import Opportunity
from modules.crm.schemas.customers import (
    ContactIn,
    CustomerOut,
    FollowUpIn,
    FollowUpOut,
)
from modules.crm.services import contacts, customers, followups
from modules.crm.services.customer_records import SHOWN, related_sections
from modules.crm.services.customers import (
    PARTY_RECORD,
    CustomerFilters,
    CustomerLabels,
    labels_of,
)
from modules.crm.views.common import page
from modules.crm.views.customer_forms import (
    CONTACT_FIELDS,
    CUSTOMER,
    TAB,
    candidates_of,
    choices,
    notice_of,
    where_now,
)
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import Refusal, attempt, read_day, read_id, typed_in
from web.htmx import wants_partial
from web.members import member_page
from web.tenancy import requires

CONTACTS, FOLLOW_UPS = "crm/customers/_contacts.html", "crm/customers/_follow_ups.html"
FOLLOW_UP_FIELDS = ("kind", "content", "happened_at", "contact_id", "opportunity_id", "next_on")


@dataclass(frozen=True, slots=True)
class CustomerRow:
    customer: CustomerOut
    labels: CustomerLabels


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    follow_up: FollowUpOut
    kind: str  # msgid


def rows_of(found: list[CustomerOut]) -> list[CustomerRow]:
    return [CustomerRow(customer, labels_of(customer)) for customer in found]


async def _members(session: AsyncSession) -> list[tuple[str, str]]:
    """Active members as (user id, name), for owner selects."""
    listed = await member_page(session, active=True, limit=200)
    return [(str(m.user_id), m.display_name) for m in listed.items]


# --- the list --------------------------------------------------------------------------------


#: The list's filters, as query parameters (the pool's are these without ``owner``).
FILTERS = ("q", "stage", "level", "source", "industry", "tag", "owner")


async def listed(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    actor: Actor,
    path: str,
    names: tuple[str, ...],
    *,
    pool: bool = False,
) -> dict[str, Any]:
    """A page of the customer list (or the pool) as its templates show it: the filters as
    typed, the rows, the "More" link (``path`` with the filters and the cursor)."""
    filters = {name: request.query_params.get(name, "") for name in names}
    after = request.query_params.get("after") or None
    try:
        owner_id = uuid.UUID(filters["owner"]) if filters.get("owner") else None
    except ValueError:
        owner_id, filters["owner"] = None, ""  # a hand-made link: list without it
    found = await customers.list_customers(
        session,
        actor,
        CustomerFilters(
            search=filters["q"],
            stage=filters["stage"],
            level=filters["level"],
            source=filters["source"],
            industry=filters["industry"],
            tag=filters["tag"],
            owner_id=owner_id,
        ),
        pool=pool,
        cursor=after,
    )
    more_url = None
    if found.next_cursor:
        more = {**{k: v for k, v in filters.items() if v}, "after": found.next_cursor}
        more_url = f"{path}?{urlencode(more)}"
    return {
        "filters": filters,
        "rows": rows_of(found.items),
        "first_page": after is None,
        "more_url": more_url,
        "filtered": any(filters.values()),
    }


@get(TAB, guards=[requires(codes.CUSTOMER_READ)])
async def customers_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    notice: FromQuery[str | None] = None,
) -> Template:
    """Filtered by the query's ``q``, ``stage``, ``level``, ``source``, ``industry``,
    ``tag`` and ``owner`` (a user id); ``after`` is the keyset cursor."""
    context = await listed(request, session, actor, f"/t/{tenant.slug}{TAB}", FILTERS)
    if wants_partial(request):
        return Template("crm/customers/_rows.html", context={"slug": tenant.slug, **context})
    return page(
        "crm/customers/index.html",
        tenant,
        actor,
        TAB,
        **context,
        members=await _members(session),
        can_write=actor.can(codes.CUSTOMER_WRITE),
        notice=notice_of(notice),
        **choices(),
    )


# --- a customer's page -----------------------------------------------------------------------


async def _open_deals(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID
) -> list[tuple[str, str]]:
    """The customer's open opportunities the actor sees, for the follow-up form."""
    if not actor.can(codes.OPPORTUNITY_READ):
        return []
    rows = await session.execute(
        select(Opportunity.id, Opportunity.number, Opportunity.name)
        .where(
            Opportunity.party_id == party_id,
            Opportunity.status == "open",
            visible(actor, "crm.opportunity", Opportunity),
        )
        .order_by(Opportunity.id.desc())
        .limit(50)
    )
    return [(str(row.id), f"{row.number} {row.name}") for row in rows]


async def _party_sections(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    party_id: uuid.UUID,
    back: str,
) -> dict[str, Any]:
    """Core's attachments and timeline of the party, when the member's party scope shows
    it (their forms post to core's party record, checked there)."""
    if not actor.can("core.party.read"):
        return {}
    shown = await session.scalar(
        select(Party.id).where(Party.id == party_id, visible(actor, "core.party", Party))
    )
    if shown is None:
        return {}
    found = access.record_type(registry, tenant, PARTY_RECORD)
    sections = await record_sections(session, tenant, actor, found, party_id, back=back)
    return {**sections, "party_href": f"/t/{tenant.slug}/parties/{party_id}"}


async def customer_context(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    party_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    """Everything the customer's page shows, its sections' partials included."""
    customer = await customers.get_customer(session, actor, party_id)
    here = f"/t/{tenant.slug}{TAB}/{party_id}"
    can_write = actor.can(codes.CUSTOMER_WRITE)
    is_company = customer.kind == "company"
    people = await contacts.list_contacts(session, actor, party_id) if is_company else []
    history = await followups.list_follow_ups(session, actor, party_id)
    panels = await contributions.record_panels(
        registry, tenant, session, actor, PARTY_RECORD, party_id
    )
    return {
        "slug": tenant.slug,
        "here": here,
        "customer": customer,
        "labels": labels_of(customer),
        "can_write": can_write,
        "is_company": is_company,
        "contacts": people,
        "follow_ups": [FollowUpRow(f, followups.KINDS.get(f.kind, f.kind)) for f in history],
        "kinds": list(followups.KINDS.items()),
        "deals": await _open_deals(session, actor, party_id) if can_write else [],
        "members": await _members(session) if can_write else [],
        "related": await related_sections(session, actor, tenant.slug, party_id),
        "shown": SHOWN,
        # CRM's own panel on the party page says what this page says already.
        "panels": [p for p in panels if not p.template.startswith("crm/")],
        "refusal": refusal,
        "candidates": candidates_of(refusal),
        "notice": notice_of(notice),
        **await _party_sections(session, tenant, actor, registry, party_id, here),
    }


async def _refused_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    party_id: uuid.UUID,
    refusal: Refusal,
) -> Template:
    """The customer's page with a refused form's reason beside it (the error's status)."""
    context = await customer_context(session, tenant, actor, registry, party_id, refusal=refusal)
    return page(
        "crm/customers/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code,
        **context,
    )


@get(CUSTOMER, guards=[requires(codes.CUSTOMER_READ)])
async def customer_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    party_id: FromPath[uuid.UUID],
    notice: FromQuery[str | None] = None,
) -> Template:
    context = await customer_context(session, tenant, actor, registry, party_id, notice=notice)
    return page("crm/customers/detail.html", tenant, actor, TAB, **context)


async def _submit(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    party_id: uuid.UUID,
    form: str,
    typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
    *,
    section: str,
    notice: str,
) -> Response[Any]:
    """Run a form of the customer's page: the section again (htmx), or the page with the
    refusal, or back to the page after an accepted one."""
    error = await attempt(session, action)
    refusal = Refusal.of(form, typed, error) if error else None
    if wants_partial(request):
        context = await customer_context(
            session, tenant, actor, registry, party_id, refusal=refusal
        )
        return Template(section, context={**context, "section_notice": None if error else form})
    if error is None:
        here = f"/t/{tenant.slug}{TAB}/{party_id}"
        return Redirect(f"{here}?notice={notice}", status_code=HTTP_303_SEE_OTHER)
    return await _refused_page(session, tenant, actor, registry, party_id, refusal)


@post(f"{CUSTOMER}/follow-ups", guards=[requires(codes.CUSTOMER_WRITE)])
async def follow_up_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    party_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, *FOLLOW_UP_FIELDS)

    async def record() -> None:
        zone = await time_zone_of(session, actor.user_id)
        new = FollowUpIn(
            kind=typed["kind"],
            content=typed["content"],
            happened_at=_local_time(typed["happened_at"], zone),
            contact_id=read_id("contact_id", typed["contact_id"]),
            opportunity_id=read_id("opportunity_id", typed["opportunity_id"]),
            next_on=read_day("next_on", typed["next_on"]),
        )
        await followups.record_follow_up(session, actor, party_id, new)

    return await _submit(
        request,
        session,
        tenant,
        actor,
        registry,
        party_id,
        "follow-up",
        typed,
        record,
        section=FOLLOW_UPS,
        notice="recorded",
    )


def _local_time(typed: str, zone: ZoneInfo) -> datetime | None:
    """A time typed into the form (``2026-03-05T14:30``) in the member's time zone; blank
    is none (now)."""
    if not typed.strip():
        return None
    try:
        value = datetime.fromisoformat(typed.strip())
    except ValueError:
        raise ValidationFailed(
            "{value} is not a time; use the form {example}.",
            value=typed,
            example="2026-03-05T14:30",
            field="happened_at",
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


@post(f"{CUSTOMER}/contacts", guards=[requires(codes.CUSTOMER_WRITE)])
async def contact_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    party_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, *CONTACT_FIELDS)

    async def add() -> None:
        new = ContactIn(**typed, allow_duplicates=data.get("allow_duplicates") == "1")
        await contacts.create_contact(session, actor, party_id, new)

    return await _submit(
        request,
        session,
        tenant,
        actor,
        registry,
        party_id,
        "contact",
        typed,
        add,
        section=CONTACTS,
        notice="saved",
    )


@post(f"{CUSTOMER}/transfer", guards=[requires(codes.CUSTOMER_WRITE)])
async def transfer_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    party_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "owner_id")

    async def transfer() -> None:
        owner_id = read_id("owner_id", typed["owner_id"])
        if owner_id is None:
            raise ValidationFailed("Choose the new owner.", field="owner_id")
        await customers.transfer_customer(session, actor, party_id, owner_id)

    error = await attempt(session, transfer)
    if error is None:
        return await where_now(session, tenant, actor, party_id, "transferred")
    refusal = Refusal.of("transfer", typed, error)
    return await _refused_page(session, tenant, actor, registry, party_id, refusal)


# --- CRM's panel on core's party page --------------------------------------------------------


async def party_panels(
    ctx: TenantContext,
    session: AsyncSession,
    actor: Actor,
    record_type: str,
    record_id: uuid.UUID,
) -> list[Panel]:
    """On a party's page: its CRM owner, stage and level and a link to its customer page,
    for a member who may read CRM customers and whose scope shows this one."""
    if record_type != PARTY_RECORD or not actor.can(codes.CUSTOMER_READ):
        return []
    try:
        customer = await customers.get_customer(session, actor, record_id)
    except NotFound:
        return []
    context = {
        "customer": customer,
        "labels": labels_of(customer),
        "href": f"/t/{ctx.slug}{TAB}/{customer.id}",
    }
    return [Panel(N_("CRM customer"), "crm/customers/_party_panel.html", context, order=10)]


PAGES = [
    customers_page,
    customer_page,
    follow_up_from_page,
    contact_from_page,
    transfer_from_page,
]
