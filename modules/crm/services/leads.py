"""Leads (线索): capture, duplicates, the scoped list, status, assignment by hand, conversion.

A lead is captured by a member (the form, the API), by an import (:mod:`.lead_import`) or
by a visitor (a web form, :mod:`.web_forms`); each gets the next
``crm.lead`` number and, unless a member names its owner, goes where the assignment rules
send it (:mod:`.assignment`).

Duplicates: a lead entered by a member, or imported, is compared with the workspace's
other leads (the normalised e-mail address, phone number and company name) and with its
parties (core's own detection: name, e-mail address, phone, company domain). Anything it
looks like refuses it with :class:`LeadDuplicateSuspected` until the member confirms
(``allow_duplicates``); a candidate the member may not see is named by its kind only. A
converted lead is no longer compared: it lives on as its customer, which is. A visitor's
lead is never refused (the visitor cannot confirm, and a refusal would tell a stranger
what the workspace holds): its page lists what it looks like instead.

Statuses: new → contacted → qualified, freely back and forth; disqualified with a reason
(and reopened by moving it back); converted, once, for good. Every change is one tracked
change on the lead's timeline, written in the language of whoever made it.

Conversion lives in :mod:`.lead_conversion`, the spreadsheet import in :mod:`.lead_import`.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from msgspec import UNSET
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import numbering
from core.errors import Conflict, DomainError, ValidationFailed
from core.i18n import N_, gettext
from core.models import Tenant, User
from core.parties import services as parties
from core.parties.models import COMPANY
from core.parties.normalise import normalise_email, normalise_name, normalise_phone
from core.permissions import Actor, visible
from core.records.timeline import referenced_name, track_changes
from modules.crm import permissions as codes
from modules.crm.access import scoped_get
from modules.crm.models import Lead
from modules.crm.models.leads import LEAD_SOURCES
from modules.crm.schemas.leads import (
    DuplicateOut,
    LeadChanges,
    LeadIn,
    LeadOut,
    LeadPage,
    LeadSummary,
)
from modules.crm.services import assignment

RESOURCE = RECORD = "crm.lead"  # the data scope's resource, and the record type
MISSING = N_("No lead {id}.")
NAME_MAX, COMPANY_MAX, TITLE_MAX, REGION_MAX = 200, 200, 100, 100
EMAIL_MAX, PHONE_MAX, NOTES_MAX, REASON_MAX = 320, 50, 10_000, 500
PAGE_SIZE, MAX_PAGE = 50, 200
OPEN_STATUSES = ("new", "contacted", "qualified")
CONVERTED, DISQUALIFIED = "converted", "disqualified"
STATUS_LABELS = {
    "new": N_("New"),
    "contacted": N_("Contacted"),
    "qualified": N_("Qualified"),
    CONVERTED: N_("Converted"),
    DISQUALIFIED: N_("Disqualified"),
}
SOURCE_LABELS = {
    "manual": N_("Entered by hand"),
    "web_form": N_("Web form"),
    "import": N_("Import"),
    "referral": N_("Referral"),
    "exhibition": N_("Trade show"),
    "advertising": N_("Advertising"),
    "other": N_("Other"),
}
#: The fields a change is tracked for on the lead's timeline, with their labels (msgids).
TRACKED = {
    "name": N_("Contact name"),
    "company_name": N_("Company"),
    "title": N_("Job title"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "source": N_("Source"),
    "region": N_("Region"),
    "notes": N_("Notes"),
    "status": N_("Status"),
    "disqualified_reason": N_("Reason"),
    "owner": N_("Owner"),
}


# --- what a lead holds -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checked:
    """A lead's typed fields as stored, with the normal forms duplicates are found by."""

    name: str
    company_name: str
    title: str
    email: str
    phone: str
    source: str
    region: str
    notes: str
    email_normalised: str = ""
    phone_normalised: str = ""
    company_normalised: str = ""


TYPED_FIELDS = ("name", "company_name", "title", "email", "phone", "source", "region", "notes")
NORMAL_FORMS = ("email_normalised", "phone_normalised", "company_normalised")


def _text(value: str, limit: int, field: str) -> str:
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed("At most {max} characters here, please.", max=limit, field=field)
    return value


async def workspace_locale(session: AsyncSession) -> str:
    """The workspace's language: it says which country a phone number without one is in."""
    locale = await session.scalar(
        select(Tenant.locale).where(Tenant.id == session.info["tenant_id"])
    )
    return locale or "en"


async def check(session: AsyncSession, typed: Checked) -> Checked:
    """The fields checked and trimmed, with their normal forms; a refusal names its field."""
    name = typed.name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(
            "A lead's name has 1 to {max} characters.", max=NAME_MAX, field="name"
        )
    if typed.source not in LEAD_SOURCES:
        raise ValidationFailed("Choose a source from the list.", field="source")
    email = _text(typed.email, EMAIL_MAX, "email")
    phone = _text(typed.phone, PHONE_MAX, "phone")
    company_name = _text(typed.company_name, COMPANY_MAX, "company_name")
    try:
        email_normalised = normalise_email(email) if email else ""
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **error.params, field="email") from None
    try:
        phone_normalised = normalise_phone(phone, await workspace_locale(session)) if phone else ""
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **error.params, field="phone") from None
    return Checked(
        name=name,
        company_name=company_name,
        title=_text(typed.title, TITLE_MAX, "title"),
        email=email,
        phone=phone,
        source=typed.source,
        region=_text(typed.region, REGION_MAX, "region"),
        notes=_text(typed.notes, NOTES_MAX, "notes"),
        email_normalised=email_normalised,
        phone_normalised=phone_normalised,
        company_normalised=normalise_name(company_name) if company_name else "",
    )


def typed_of(data: LeadIn) -> Checked:
    return Checked(**{field: getattr(data, field) for field in TYPED_FIELDS})


def typed(**fields: str) -> Checked:
    """Some of a lead's fields as typed (the rest blank, the source "manual")."""
    return Checked(**{**dict.fromkeys(TYPED_FIELDS, ""), "source": "manual", **fields})


def stored(lead: Lead) -> Checked:
    """A lead's fields as stored, normal forms included (to find what it looks like)."""
    return Checked(**{field: getattr(lead, field) for field in (*TYPED_FIELDS, *NORMAL_FORMS)})


# --- duplicates ------------------------------------------------------------------------------


class LeadDuplicateSuspected(Conflict):
    """The lead being entered looks like a lead or a party the workspace has; the caller
    shows ``candidates`` and, if the user confirms, repeats with ``allow_duplicates``."""

    code = "duplicate_suspected"

    def __init__(self, candidates: list[DuplicateOut]) -> None:
        super().__init__(
            N_("This looks like a lead or customer that already exists."),
            candidates=msgspec.to_builtins(candidates),
        )
        self.candidates = candidates


async def find_duplicates(
    session: AsyncSession, actor: Actor, lead: Checked, *, exclude_id: uuid.UUID | None = None
) -> list[DuplicateOut]:
    """The leads (not yet converted) and parties that ``lead`` looks like, leads first."""
    same: list[ColumnElement[bool]] = []
    if lead.email_normalised:
        same.append(Lead.email_normalised == lead.email_normalised)
    if lead.phone_normalised:
        same.append(Lead.phone_normalised == lead.phone_normalised)
    if lead.company_normalised:
        same.append(Lead.company_normalised == lead.company_normalised)
    found: list[DuplicateOut] = []
    if same:
        query = (
            select(
                Lead.id,
                Lead.number,
                Lead.name,
                Lead.email_normalised,
                Lead.phone_normalised,
                Lead.company_normalised,
                visible(actor, RESOURCE, Lead).label("seen"),
            )
            .where(or_(*same), Lead.status != CONVERTED)
            .order_by(Lead.id.desc())
            .limit(20)
        )
        if exclude_id is not None:
            query = query.where(Lead.id != exclude_id)
        for row in await session.execute(query):
            reasons = [
                reason
                for reason, mine, theirs in (
                    ("company", lead.company_normalised, row.company_normalised),
                    ("email", lead.email_normalised, row.email_normalised),
                    ("phone", lead.phone_normalised, row.phone_normalised),
                )
                if mine and mine == theirs
            ]
            found.append(
                DuplicateOut(
                    kind="lead",
                    id=row.id,
                    name=row.name if row.seen else None,
                    number=row.number if row.seen else None,
                    reasons=tuple(reasons),
                )
            )
    if actor.can(parties.READ) and (lead.company_name or lead.email or lead.phone):
        for candidate in await parties.find_duplicates(
            session,
            actor,
            kind=COMPANY,
            name=lead.company_name,
            emails=[lead.email_normalised] if lead.email_normalised else [],
            phones=[lead.phone_normalised] if lead.phone_normalised else [],
        ):
            found.append(
                DuplicateOut(
                    kind="party",
                    id=candidate.party_id,
                    name=candidate.name,
                    number=None,
                    reasons=candidate.reasons,
                )
            )
    return found


async def suspected_duplicates(
    session: AsyncSession, actor: Actor, typed: Checked
) -> list[DuplicateOut]:
    """What the new-lead form shows as the user types: half-typed input (an address
    without its domain) shows nothing rather than an error; sending the form says why."""
    try:
        lead = await check(session, replace(typed, name=typed.name or "-"))
    except DomainError:
        return []
    return await find_duplicates(session, actor, lead)


# --- creating a lead -------------------------------------------------------------------------


async def _insert(
    session: AsyncSession,
    lead: Checked,
    placed: assignment.Assignment,
    *,
    web_form_id: uuid.UUID | None = None,
    number: str | None = None,
) -> Lead:
    row = Lead(
        number=number or await numbering.next_number(session, "crm.lead"),
        name=lead.name,
        company_name=lead.company_name,
        company_normalised=lead.company_normalised,
        title=lead.title,
        email=lead.email,
        email_normalised=lead.email_normalised,
        phone=lead.phone,
        phone_normalised=lead.phone_normalised,
        source=lead.source,
        region=lead.region,
        notes=lead.notes,
        status="new",
        team_id=placed.team_id,
        web_form_id=web_form_id,
        owner_id=placed.owner_id,
        department_id=placed.department_id,
        assigned_at=func.now() if placed.owner_id else None,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row, ["created_at", "assigned_at"])
    return row


async def create_lead(
    session: AsyncSession,
    actor: Actor,
    data: LeadIn,
    *,
    number: str | None = None,
) -> Lead:
    """A lead a member enters (the form, the API, an import row). With ``owner_id`` it is
    theirs (an active member); without, the assignment rules place it, and when no rule
    matches it is the entering member's own (as in Odoo: nobody loses sight of it).
    ``number`` stands in for the next one (an import's dry run draws none)."""
    actor.require(codes.LEAD_WRITE)
    lead = await check(session, typed_of(data))
    if not data.allow_duplicates and (candidates := await find_duplicates(session, actor, lead)):
        raise LeadDuplicateSuspected(candidates)
    if data.owner_id is not UNSET:
        await assignment.active_member(session, data.owner_id, "owner_id")
        department = await assignment.owner_department(session, data.owner_id)
        placed = assignment.Assignment(None, data.owner_id, department)
    else:
        placed = await assignment.assign(
            session,
            source=lead.source,
            region=lead.region,
            fallback_department=actor.department_id,
        )
        if placed.team_id is None:  # no rule for it: it stays with whoever entered it
            department = await assignment.owner_department(session, actor.user_id)
            placed = assignment.Assignment(None, actor.user_id, department)
    return await _insert(session, lead, placed, number=number)


async def capture(
    session: AsyncSession,
    typed: Checked,
    *,
    team_id: uuid.UUID | None,
    web_form_id: uuid.UUID,
) -> Lead:
    """A lead a visitor sent through a web form: checked, never refused as a duplicate,
    placed in the form's team or by the rules."""
    lead = await check(session, typed)
    placed = await assignment.assign(
        session, source=lead.source, region=lead.region, team_id=team_id
    )
    return await _insert(session, lead, placed, web_form_id=web_form_id)


# --- reading ---------------------------------------------------------------------------------


def lead_out(lead: Lead) -> LeadOut:
    return LeadOut(
        id=lead.id,
        number=lead.number,
        name=lead.name,
        company_name=lead.company_name,
        title=lead.title,
        email=lead.email,
        phone=lead.phone,
        source=lead.source,
        region=lead.region,
        notes=lead.notes,
        status=lead.status,
        disqualified_reason=lead.disqualified_reason,
        owner_id=lead.owner_id,
        department_id=lead.department_id,
        team_id=lead.team_id,
        web_form_id=lead.web_form_id,
        assigned_at=lead.assigned_at,
        converted_at=lead.converted_at,
        customer_party_id=lead.customer_party_id,
        contact_party_id=lead.contact_party_id,
        created_at=lead.created_at,
    )


async def get_lead(
    session: AsyncSession, actor: Actor, lead_id: uuid.UUID, *, for_update: bool = False
) -> Lead:
    """The lead if the actor's scope shows it, else NotFound (the same for "not yours")."""
    actor.require(codes.LEAD_READ)
    return await scoped_get(session, actor, Lead, RESOURCE, lead_id, MISSING, for_update=for_update)


async def sees(session: AsyncSession, actor: Actor, lead_id: uuid.UUID) -> bool:
    """Whether the actor's scope shows the lead (its creator may not, once it is placed)."""
    found = await session.scalar(
        select(Lead.id).where(Lead.id == lead_id, visible(actor, RESOURCE, Lead))
    )
    return found is not None


def _search(text: str) -> ColumnElement[bool]:
    """Name, company, number, e-mail address or phone containing what was typed."""
    typed = text.strip()
    conditions: list[ColumnElement[bool]] = [
        column.icontains(typed, autoescape=True)
        for column in (Lead.name, Lead.company_name, Lead.number, Lead.email)
    ]
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", typed))
    if len(digits) >= 4:
        conditions.append(Lead.phone_normalised.contains(digits))
    return or_(*conditions)


async def list_leads(
    session: AsyncSession,
    actor: Actor,
    *,
    search: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    source: str | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> LeadPage:
    """The leads the actor may see, newest first. ``status`` one of the statuses or
    ``open`` (new, contacted, qualified); ``owner`` ``me``, ``none`` (unassigned) or a
    user id; ``after`` the cursor of the previous page."""
    actor.require(codes.LEAD_READ)
    limit = min(max(limit, 1), MAX_PAGE)
    query = (
        select(
            Lead.id,
            Lead.number,
            Lead.name,
            Lead.company_name,
            Lead.email,
            Lead.phone,
            Lead.source,
            Lead.region,
            Lead.status,
            Lead.owner_id,
            User.display_name,
            Lead.created_at,
        )
        .outerjoin(User, User.id == Lead.owner_id)
        .where(visible(actor, RESOURCE, Lead))
        .order_by(Lead.id.desc())
        .limit(limit + 1)
    )
    if search and search.strip():
        query = query.where(_search(search))
    if status == "open":
        query = query.where(Lead.status.in_(OPEN_STATUSES))
    elif status:
        if status not in STATUS_LABELS:
            raise ValidationFailed("Choose a status from the list.", field="status")
        query = query.where(Lead.status == status)
    if source:
        if source not in LEAD_SOURCES:
            raise ValidationFailed("Choose a source from the list.", field="source")
        query = query.where(Lead.source == source)
    if owner == "me":
        query = query.where(Lead.owner_id == actor.user_id)
    elif owner == "none":
        query = query.where(Lead.owner_id.is_(None))
    elif owner:
        query = query.where(Lead.owner_id == _id(owner, "owner"))
    if after:
        query = query.where(Lead.id < _id(after, "after"))
    rows = (await session.execute(query)).all()
    items = [
        LeadSummary(
            id=r.id,
            number=r.number,
            name=r.name,
            company_name=r.company_name,
            email=r.email,
            phone=r.phone,
            source=r.source,
            region=r.region,
            status=r.status,
            owner_id=r.owner_id,
            owner_name=r.display_name,
            created_at=r.created_at,
        )
        for r in rows[:limit]
    ]
    cursor = str(items[-1].id) if len(rows) > limit else None
    return LeadPage(items=items, next_cursor=cursor)


def _id(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed("This page link is no longer valid.", field=field) from None


async def search_leads(session: AsyncSession, actor: Actor, query: str, limit: int) -> list[Lead]:
    """The leads the global search shows the actor, newest first (their scope applies)."""
    if not actor.can(codes.LEAD_READ) or not query.strip():
        return []
    return list(
        await session.scalars(
            select(Lead)
            .where(visible(actor, RESOURCE, Lead), _search(query))
            .order_by(Lead.id.desc())
            .limit(limit)
        )
    )


def search_score(lead: Lead, query: str) -> float:
    """How well a lead matches a search, as core scores its own hits: 3 for its number,
    e-mail address or name typed whole, 2 for a name or company that starts so, else 1."""
    wanted = query.strip().casefold()
    if wanted in (lead.number.casefold(), lead.email.casefold(), lead.name.casefold()):
        return 3.0
    if lead.name.casefold().startswith(wanted) or lead.company_name.casefold().startswith(wanted):
        return 2.0
    return 1.0


# --- changing a lead -------------------------------------------------------------------------


async def tracked(session: AsyncSession, lead: Lead) -> dict[str, object]:
    """The tracked fields as the timeline shows them (labels in the author's language)."""
    return {
        "name": lead.name,
        "company_name": lead.company_name,
        "title": lead.title,
        "email": lead.email,
        "phone": lead.phone,
        "source": gettext(SOURCE_LABELS[lead.source]),
        "region": lead.region,
        "notes": lead.notes,
        "status": gettext(STATUS_LABELS[lead.status]),
        "disqualified_reason": lead.disqualified_reason,
        "owner": await referenced_name(session, User.display_name, lead.owner_id),
    }


async def changeable(session: AsyncSession, actor: Actor, lead_id: uuid.UUID) -> Lead:
    """The lead, locked, for a change: a converted lead is history."""
    actor.require(codes.LEAD_WRITE)
    lead = await get_lead(session, actor, lead_id, for_update=True)
    if lead.status == CONVERTED:
        raise Conflict(
            "Lead {number} was converted; work on its customer instead.", number=lead.number
        )
    return lead


async def update_lead(
    session: AsyncSession, actor: Actor, lead_id: uuid.UUID, changes: LeadChanges
) -> Lead:
    """Change the lead's fields or move its status among new, contacted and qualified (a
    disqualified lead moved back is reopened, its reason cleared)."""
    lead = await changeable(session, actor, lead_id)
    before = await tracked(session, lead)

    def given(field: str) -> Any:
        value = getattr(changes, field)
        return getattr(lead, field) if value is UNSET else value

    checked = await check(session, Checked(**{field: given(field) for field in TYPED_FIELDS}))
    for field in (*TYPED_FIELDS, *NORMAL_FORMS):
        setattr(lead, field, getattr(checked, field))
    if changes.status is not UNSET and changes.status != lead.status:
        if changes.status not in OPEN_STATUSES:
            raise ValidationFailed(
                "Choose new, contacted or qualified; disqualify and convert have their own "
                "buttons.",
                field="status",
            )
        lead.status = changes.status
        lead.disqualified_reason = ""
    await session.flush()
    await track_changes(
        session, RECORD, lead.id, actor.user_id, before, await tracked(session, lead), TRACKED
    )
    return lead


async def disqualify(session: AsyncSession, actor: Actor, lead_id: uuid.UUID, reason: str) -> Lead:
    """Set the lead aside, saying why (kept, and reopened by moving its status back)."""
    lead = await changeable(session, actor, lead_id)
    reason = reason.strip()
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed("Say why in 1 to {max} characters.", max=REASON_MAX, field="reason")
    before = await tracked(session, lead)
    lead.status, lead.disqualified_reason = DISQUALIFIED, reason
    await session.flush()
    await track_changes(
        session, RECORD, lead.id, actor.user_id, before, await tracked(session, lead), TRACKED
    )
    return lead


async def assign_lead(
    session: AsyncSession, actor: Actor, lead_id: uuid.UUID, owner_id: uuid.UUID
) -> Lead:
    """Give the lead to an active member by hand; its department becomes theirs. Anyone
    who may change the lead may, so a salesperson can hand their own lead on."""
    lead = await changeable(session, actor, lead_id)
    await assignment.active_member(session, owner_id, "owner_id")
    before = await tracked(session, lead)
    lead.owner_id = owner_id
    lead.department_id = await assignment.owner_department(session, owner_id)
    lead.assigned_at = func.now()
    await session.flush()
    await session.refresh(lead, ["assigned_at"])
    await track_changes(
        session, RECORD, lead.id, actor.user_id, before, await tracked(session, lead), TRACKED
    )
    return lead
