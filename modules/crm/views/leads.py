"""Lead pages under ``/t/{slug}/crm/leads``, and the public web-to-lead form.

- the list: search, status, owner and source filters, newest first, "More" by htmx (the
  keyset cursor); links to a new lead and to the import of a spreadsheet;
- a new lead (and a lead's edit form): possible duplicates are shown live as the user
  types (``/crm/leads/duplicates``, htmx on change) and, on sending, a lead that looks
  like an existing lead or customer is refused with them until the user confirms;
- a lead's page: what it holds, what it looks like, its status, its owner (assign),
  disqualify with a reason, convert (a page of its own), and core's attachments and
  timeline sections (``core.records.views.record_sections``);

The same services and guards as the JSON API. A form's action runs in a savepoint
(``web.forms.attempt``): a refusal writes nothing and comes back beside its input with
what was typed (422, or the error's status); an accepted post answers 303.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from msgspec import UNSET, UnsetType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import DomainError, ValidationFailed
from core.exchange.imports import IMPORT_PERMISSION
from core.models import User
from core.parties.models import Party
from core.parties.services import DuplicateSuspected
from core.permissions import Actor, visible
from core.plugins.registry import ModuleRegistry
from core.records import access
from core.records.views import record_sections
from modules.crm import permissions as codes
from modules.crm.models import Lead
from modules.crm.schemas.leads import ConvertIn, DuplicateOut, LeadChanges, LeadIn
from modules.crm.services import lead_conversion, leads
from modules.crm.services.leads import OPEN_STATUSES, SOURCE_LABELS, STATUS_LABELS
from modules.crm.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import Refusal, attempt, read_day, read_decimal, read_id, typed_in
from web.htmx import wants_partial
from web.members import member_page
from web.tenancy import requires

TAB = "/crm/leads"
LEAD_FIELDS = ("name", "company_name", "title", "email", "phone", "source", "region", "notes")
CONVERT_FIELDS = (
    "customer_id",
    "company_name",
    "create_contact",
    "create_opportunity",
    "opportunity_name",
    "amount",
    "expected_close_on",
)


def _choices() -> dict[str, Any]:
    """The labels the lead pages show for statuses and sources (msgids)."""
    return {"statuses": STATUS_LABELS, "sources": SOURCE_LABELS, "open_statuses": OPEN_STATUSES}


async def _members(session: AsyncSession) -> list[Any]:
    return (await member_page(session, active=True, limit=200)).items


# --- the list ----------------------------------------------------------------------------------


@get("/crm/leads", guards=[requires(codes.LEAD_READ)])
async def leads_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    status: FromQuery[str] = "",
    owner: FromQuery[str] = "",
    source: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
    created: FromQuery[str] = "",
) -> Template:
    """``created`` names a lead just created that went to someone else (the notice)."""
    filters = {"q": q, "status": status, "owner": owner, "source": source}
    refused: DomainError | None = None
    try:
        found = await leads.list_leads(
            session,
            actor,
            search=q,
            status=status or None,
            owner=owner or None,
            source=source or None,
            after=after,
        )
    except ValidationFailed as error:  # a filter or cursor edited by hand
        refused = error
        found = await leads.list_leads(session, actor)
    more_url = None
    if found.next_cursor:
        more = {**{k: v for k, v in filters.items() if v}, "after": found.next_cursor}
        more_url = f"/t/{tenant.slug}/crm/leads?{urlencode(more)}"
    context = {
        "page": found,
        "filters": filters,
        "first_page": after is None,
        "more_url": more_url,
        "refused": refused,
        "created": created[:40],
        "can_write": actor.can(codes.LEAD_WRITE),
        "can_import": actor.can(IMPORT_PERMISSION) and actor.can(codes.LEAD_WRITE),
        "can_set_up": actor.can(codes.SETTINGS_MANAGE),
        **_choices(),
    }
    if wants_partial(request):
        return Template("crm/leads/_rows.html", context={"slug": tenant.slug, **context})
    return page("crm/leads/index.html", tenant, actor, TAB, **context)


# --- a new lead, and a lead's edit form --------------------------------------------------------


async def _form_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    typed: dict[str, str],
    *,
    lead: Lead | None = None,
    refusal: Refusal | None = None,
    candidates: list[DuplicateOut] | None = None,
) -> Template:
    base = f"/t/{tenant.slug}/crm/leads"
    return page(
        "crm/leads/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        lead=lead,
        action=f"{base}/{lead.id}/edit" if lead else f"{base}/new",
        form=typed,
        refusal=refusal,
        candidates=candidates or [],
        members=await _members(session) if lead is None else [],
        **_choices(),
    )


@get("/crm/leads/new", guards=[requires(codes.LEAD_WRITE)])
async def new_lead_page(session: DbSession, tenant: CurrentTenant, actor: CurrentActor) -> Template:
    return await _form_page(session, tenant, actor, {"source": "manual", "owner_id": ""})


def _owner(value: str) -> uuid.UUID | UnsetType:
    """The owner chosen on the form: blank is "by the assignment rules"."""
    if not value.strip():
        return UNSET
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValidationFailed(
            "Choose an active member of this workspace.", field="owner_id"
        ) from None


@post("/crm/leads/new", guards=[requires(codes.LEAD_WRITE)])
async def create_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    typed = typed_in(data, *LEAD_FIELDS, "owner_id")
    made: list[Lead] = []

    async def create() -> None:
        fields = {name: typed[name] for name in LEAD_FIELDS}
        lead_in = LeadIn(
            **fields,
            owner_id=_owner(typed["owner_id"]),
            allow_duplicates=data.get("allow_duplicates") == "1",
        )
        made.append(await leads.create_lead(session, actor, lead_in))

    error = await attempt(session, create)
    if error is not None:
        candidates = error.candidates if isinstance(error, leads.LeadDuplicateSuspected) else None
        refusal = Refusal.of("lead", typed, error)
        return await _form_page(
            session, tenant, actor, typed, refusal=refusal, candidates=candidates
        )
    lead = made[0]
    base = f"/t/{tenant.slug}/crm/leads"
    if not await leads.sees(session, actor, lead.id):  # the rules gave it to someone else
        return Redirect(
            f"{base}?{urlencode({'created': lead.number})}", status_code=HTTP_303_SEE_OTHER
        )
    return Redirect(f"{base}/{lead.id}", status_code=HTTP_303_SEE_OTHER)


@get("/crm/leads/duplicates", guards=[requires(codes.LEAD_READ)])
async def duplicates_fragment(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    company_name: FromQuery[str] = "",
    email: FromQuery[str] = "",
    phone: FromQuery[str] = "",
) -> Template:
    """What the form shows as the user types: leads and customers it looks like."""
    typed = leads.typed(company_name=company_name, email=email, phone=phone)
    candidates = await leads.suspected_duplicates(session, actor, typed)
    return Template(
        "crm/leads/_duplicates.html", context={"slug": tenant.slug, "candidates": candidates}
    )


def _form_of(lead: Lead) -> dict[str, str]:
    return {name: str(getattr(lead, name)) for name in LEAD_FIELDS}


@get("/crm/leads/{lead_id:uuid}/edit", guards=[requires(codes.LEAD_WRITE)])
async def edit_lead_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, lead_id: FromPath[uuid.UUID]
) -> Template:
    lead = await leads.get_lead(session, actor, lead_id)
    return await _form_page(session, tenant, actor, _form_of(lead), lead=lead)


@post("/crm/leads/{lead_id:uuid}/edit", guards=[requires(codes.LEAD_WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    lead_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    lead = await leads.get_lead(session, actor, lead_id)
    typed = typed_in(data, *LEAD_FIELDS)
    error = await attempt(
        session, lambda: leads.update_lead(session, actor, lead_id, LeadChanges(**typed))
    )
    if error is not None:
        lead = await leads.get_lead(session, actor, lead_id)  # as it was: the savepoint rolled back
        refusal = Refusal.of("lead", typed, error)
        return await _form_page(session, tenant, actor, typed, lead=lead, refusal=refusal)
    return Redirect(f"/t/{tenant.slug}/crm/leads/{lead.id}", status_code=HTTP_303_SEE_OTHER)


# --- a lead's page -----------------------------------------------------------------------------


async def _names(session: AsyncSession, actor: Actor, lead: Lead) -> dict[str, str | None]:
    """The owner's name, and the customer and contact a conversion made (when visible)."""

    async def party(party_id: uuid.UUID | None) -> str | None:
        if party_id is None:
            return None
        return await session.scalar(
            select(Party.name).where(Party.id == party_id, visible(actor, "core.party", Party))
        )

    owner = None
    if lead.owner_id is not None:
        owner = await session.scalar(select(User.display_name).where(User.id == lead.owner_id))
    return {
        "owner": owner,
        "customer": await party(lead.customer_party_id),
        "contact": await party(lead.contact_party_id),
    }


async def _lead_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    lead: Lead,
    *,
    refusal: Refusal | None = None,
) -> Template:
    here = f"/t/{tenant.slug}/crm/leads/{lead.id}"
    sections = await record_sections(
        session, tenant, actor, access.record_type(registry, tenant, leads.RECORD), lead.id, here
    )
    duplicates: list[DuplicateOut] = []
    if lead.status != leads.CONVERTED:
        duplicates = await leads.find_duplicates(
            session, actor, leads.stored(lead), exclude_id=lead.id
        )
    can_write = actor.can(codes.LEAD_WRITE) and lead.status != leads.CONVERTED
    return page(
        "crm/leads/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        lead=lead,
        names=await _names(session, actor, lead),
        duplicates=duplicates,
        can_write=can_write,
        members=await _members(session) if can_write else [],
        refusal=refusal,
        here=here,
        **_choices(),
        **sections,
    )


@get("/crm/leads/{lead_id:uuid}", guards=[requires(codes.LEAD_READ)])
async def lead_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    lead_id: FromPath[uuid.UUID],
) -> Template:
    return await _lead_page(
        session, tenant, actor, registry, await leads.get_lead(session, actor, lead_id)
    )


async def _act_on_lead(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    lead_id: uuid.UUID,
    form: str,
    typed: dict[str, str],
    action: Any,
) -> Response[Any]:
    """Run one of the lead page's forms; its page again with the refusal, or back to it."""
    error = await attempt(session, action)
    if error is not None:
        lead = await leads.get_lead(session, actor, lead_id)
        refusal = Refusal.of(form, typed, error)
        return await _lead_page(session, tenant, actor, registry, lead, refusal=refusal)
    return Redirect(f"/t/{tenant.slug}/crm/leads/{lead_id}", status_code=HTTP_303_SEE_OTHER)


@post("/crm/leads/{lead_id:uuid}/status", guards=[requires(codes.LEAD_WRITE)])
async def change_status(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    lead_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(
        data,
        "status",
    )
    changes = LeadChanges(status=typed["status"])
    return await _act_on_lead(
        session,
        tenant,
        actor,
        registry,
        lead_id,
        "status",
        typed,
        lambda: leads.update_lead(session, actor, lead_id, changes),
    )


@post("/crm/leads/{lead_id:uuid}/assign", guards=[requires(codes.LEAD_WRITE)])
async def assign_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    lead_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(
        data,
        "owner_id",
    )

    async def assign() -> None:
        owner = _owner(typed["owner_id"])
        if not isinstance(owner, uuid.UUID):
            raise ValidationFailed("Choose an active member of this workspace.", field="owner_id")
        await leads.assign_lead(session, actor, lead_id, owner)

    return await _act_on_lead(session, tenant, actor, registry, lead_id, "assign", typed, assign)


@post("/crm/leads/{lead_id:uuid}/disqualify", guards=[requires(codes.LEAD_WRITE)])
async def disqualify_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    lead_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(
        data,
        "reason",
    )
    return await _act_on_lead(
        session,
        tenant,
        actor,
        registry,
        lead_id,
        "disqualify",
        typed,
        lambda: leads.disqualify(session, actor, lead_id, typed["reason"]),
    )


# --- converting a lead -------------------------------------------------------------------------


async def _convert_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    lead: Lead,
    typed: dict[str, str],
    *,
    refusal: Refusal | None = None,
    party_candidates: list[Any] | None = None,
) -> Template:
    """The conversion form. The existing customers it offers are the companies the lead
    looks like, and those a refused conversion named."""
    looks_like = [
        (str(c.id), c.name)
        for c in await leads.find_duplicates(session, actor, leads.stored(lead), exclude_id=lead.id)
        if c.kind == "party" and c.name is not None
    ]
    return page(
        "crm/leads/convert.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        lead=lead,
        form=typed,
        refusal=refusal,
        customers=looks_like,
        party_candidates=party_candidates or [],
        can_open_opportunity=actor.can(codes.OPPORTUNITY_WRITE),
    )


@get("/crm/leads/{lead_id:uuid}/convert", guards=[requires(codes.LEAD_WRITE)])
async def convert_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, lead_id: FromPath[uuid.UUID]
) -> Template:
    lead = await leads.get_lead(session, actor, lead_id)
    typed = {
        "customer_id": "",
        "company_name": lead.company_name,
        "create_contact": "on",
        "create_opportunity": "",
        "opportunity_name": lead.company_name or lead.name,
        "amount": "",
        "expected_close_on": "",
    }
    return await _convert_page(session, tenant, actor, lead, typed)


@post("/crm/leads/{lead_id:uuid}/convert", guards=[requires(codes.LEAD_WRITE)])
async def convert_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    lead_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, *CONVERT_FIELDS)

    async def convert() -> None:
        await lead_conversion.convert(
            session,
            actor,
            lead_id,
            ConvertIn(
                customer_id=read_id("customer_id", typed["customer_id"]),
                company_name=typed["company_name"],
                create_contact=bool(typed["create_contact"]),
                create_opportunity=bool(typed["create_opportunity"]),
                opportunity_name=typed["opportunity_name"],
                amount=read_decimal("amount", typed["amount"], blank=Decimal(0)),
                expected_close_on=read_day("expected_close_on", typed["expected_close_on"]),
                allow_duplicates=data.get("allow_duplicates") == "1",
            ),
        )

    error = await attempt(session, convert)
    if error is not None:
        lead = await leads.get_lead(session, actor, lead_id)
        candidates = error.candidates if isinstance(error, DuplicateSuspected) else None
        refusal = Refusal.of("convert", typed, error)
        return await _convert_page(
            session, tenant, actor, lead, typed, refusal=refusal, party_candidates=candidates
        )
    return Redirect(f"/t/{tenant.slug}/crm/leads/{lead_id}", status_code=HTTP_303_SEE_OTHER)


PAGES = [
    leads_page,
    new_lead_page,
    create_from_page,
    duplicates_fragment,
    edit_lead_page,
    update_from_page,
    lead_page,
    change_status,
    assign_from_page,
    disqualify_from_page,
    convert_page,
    convert_from_page,
]
