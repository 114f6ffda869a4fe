"""What the lead, assignment and web-form services take in and give back (msgspec Structs,
also the JSON API's bodies)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

DuplicateKind = Literal["lead", "party"]


class LeadIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new lead. Without ``owner_id`` the assignment rules choose its salesperson;
    ``allow_duplicates`` confirms one that looks like an existing lead or party."""

    name: str
    company_name: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""
    source: str = "manual"
    region: str = ""
    notes: str = ""
    owner_id: uuid.UUID | UnsetType = UNSET
    allow_duplicates: bool = False


class LeadChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change on a lead; an unset field stays as it is. ``status`` moves it among
    new, contacted and qualified (disqualify and convert have their own calls)."""

    name: str | UnsetType = UNSET
    company_name: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    source: str | UnsetType = UNSET
    region: str | UnsetType = UNSET
    notes: str | UnsetType = UNSET
    status: str | UnsetType = UNSET


class AssignIn(msgspec.Struct, frozen=True, kw_only=True):
    """Give the lead to this member (a user id)."""

    owner_id: uuid.UUID


class DisqualifyIn(msgspec.Struct, frozen=True, kw_only=True):
    reason: str


class ConvertIn(msgspec.Struct, frozen=True, kw_only=True):
    """How a lead becomes a customer: an existing company (``customer_id``, a core party)
    or a new one named ``company_name`` (the lead's company when left out); the lead's
    person as its contact unless ``create_contact`` is false; and an opportunity when
    ``create_opportunity`` is true. ``allow_duplicates`` confirms a new company or contact
    that looks like an existing party."""

    customer_id: uuid.UUID | None = None
    company_name: str | None = None
    create_contact: bool = True
    create_opportunity: bool = False
    opportunity_name: str = ""
    amount: Decimal = Decimal("0")
    expected_close_on: date | None = None
    allow_duplicates: bool = False


class DuplicateOut(msgspec.Struct, frozen=True, kw_only=True):
    """A lead or a party that looks like the lead being entered, and why (``email``,
    ``phone``, ``company``; a party's reasons are core's). ``name`` is None when the member
    may not see it: they learn that it exists, not whose it is."""

    kind: DuplicateKind
    id: uuid.UUID
    name: str | None
    number: str | None  # a lead's number
    reasons: tuple[str, ...]


class LeadSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A row of the lead list."""

    id: uuid.UUID
    number: str
    name: str
    company_name: str
    email: str
    phone: str
    source: str
    region: str
    status: str
    owner_id: uuid.UUID | None
    owner_name: str | None
    created_at: datetime


class LeadPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of leads, newest first; pass ``next_cursor`` back as ``after``."""

    items: list[LeadSummary]
    next_cursor: str | None


class LeadOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    name: str
    company_name: str
    title: str
    email: str
    phone: str
    source: str
    region: str
    notes: str
    status: str
    disqualified_reason: str
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    team_id: uuid.UUID | None
    web_form_id: uuid.UUID | None
    assigned_at: datetime | None
    converted_at: datetime | None
    customer_party_id: uuid.UUID | None
    contact_party_id: uuid.UUID | None
    created_at: datetime


class ConversionOut(msgspec.Struct, frozen=True, kw_only=True):
    """What a conversion made: the customer (a core party), its contact and opportunity."""

    lead: LeadOut
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None


# --- sales teams and assignment rules ------------------------------------------------------


class TeamIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    department_id: uuid.UUID | None = None


class TeamChanges(msgspec.Struct, frozen=True, kw_only=True):
    name: str | UnsetType = UNSET
    department_id: uuid.UUID | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class TeamMemberIn(msgspec.Struct, frozen=True, kw_only=True):
    """A salesperson (a user id) in the team; ``daily_cap`` None: no cap."""

    user_id: uuid.UUID
    daily_cap: int | None = None


class TeamMemberChanges(msgspec.Struct, frozen=True, kw_only=True):
    daily_cap: int | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class TeamMemberOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    daily_cap: int | None
    active: bool
    assigned_today: int  # by the rules, this UTC day
    last_assigned_at: datetime | None


class TeamOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    department_id: uuid.UUID | None
    active: bool
    members: list[TeamMemberOut]


class RuleIn(msgspec.Struct, frozen=True, kw_only=True):
    """Leads whose source and region (each None: any) match go to ``team_id``; the lowest
    ``priority`` is tried first."""

    name: str
    team_id: uuid.UUID
    priority: int = 100
    source: str | None = None
    region: str | None = None


class RuleChanges(msgspec.Struct, frozen=True, kw_only=True):
    name: str | UnsetType = UNSET
    team_id: uuid.UUID | UnsetType = UNSET
    priority: int | UnsetType = UNSET
    source: str | UnsetType | None = UNSET
    region: str | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class RuleOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    priority: int
    source: str | None
    region: str | None
    team_id: uuid.UUID
    active: bool


# --- web forms -----------------------------------------------------------------------------


class WebFormIn(msgspec.Struct, frozen=True, kw_only=True):
    """A web-to-lead form; its leads get ``source`` and go to ``team_id`` (None: the rules)."""

    name: str
    source: str = "web_form"
    team_id: uuid.UUID | None = None


class WebFormChanges(msgspec.Struct, frozen=True, kw_only=True):
    name: str | UnsetType = UNSET
    source: str | UnsetType = UNSET
    team_id: uuid.UUID | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class WebFormOut(msgspec.Struct, frozen=True, kw_only=True):
    """``url`` is the public page to embed (``/public/crm/forms/{form_key}``)."""

    id: uuid.UUID
    name: str
    form_key: str
    source: str
    team_id: uuid.UUID | None
    active: bool
    url: str


class WebLeadIn(msgspec.Struct, frozen=True, kw_only=True):
    """What a visitor sends through a web form."""

    name: str = ""
    company_name: str = ""
    email: str = ""
    phone: str = ""
    notes: str = ""
