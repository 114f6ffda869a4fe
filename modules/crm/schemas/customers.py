"""What the customer, follow-up and pool services take in and give back (msgspec Structs,
also the JSON API's bodies). A customer is named by its core party's id."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

CustomerKind = Literal["company", "person"]


class CustomerIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new customer: a core party (owned by whoever creates it) and its CRM profile.
    ``allow_duplicates`` confirms one that looks like an existing party."""

    name: str
    kind: CustomerKind = "company"
    email: str = ""
    phone: str = ""
    tags: tuple[str, ...] = ()
    lifecycle_stage: str = "prospect"
    level: str | None = None
    source: str = "manual"
    industry: str = ""
    allow_duplicates: bool = False


class CustomerChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change; an unset field stays as it is. ``tags`` is the whole new list."""

    name: str | UnsetType = UNSET
    tags: tuple[str, ...] | UnsetType = UNSET
    lifecycle_stage: str | UnsetType = UNSET
    level: str | UnsetType | None = UNSET
    source: str | UnsetType = UNSET
    industry: str | UnsetType = UNSET


class CustomerOut(msgspec.Struct, frozen=True, kw_only=True):
    """A customer as lists and pages show it. A party marked customer in core that CRM has
    not written about yet reads with the profile's defaults."""

    id: uuid.UUID  # the party
    kind: str
    name: str
    owner_id: uuid.UUID | None
    owner_name: str | None
    department_id: uuid.UUID | None
    lifecycle_stage: str
    level: str | None
    source: str
    industry: str
    tags: list[str]
    in_pool: bool
    pooled_at: datetime | None
    pool_reason: str
    pool_note: str
    last_follow_up_at: datetime | None
    created_at: datetime


class CustomerPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a list, by name; pass ``next_cursor`` back for the next, None at the end."""

    items: list[CustomerOut]
    next_cursor: str | None


class TransferIn(msgspec.Struct, frozen=True, kw_only=True):
    owner_id: uuid.UUID  # the member (their user id) who owns the customer from now on


class ReleaseIn(msgspec.Struct, frozen=True, kw_only=True):
    reason: str  # why it goes to the public pool, for whoever claims it next


class ContactIn(msgspec.Struct, frozen=True, kw_only=True):
    """A person at the customer; ``allow_duplicates`` as for a customer."""

    name: str
    email: str = ""
    phone: str = ""
    notes: str = ""
    allow_duplicates: bool = False


class ContactChanges(msgspec.Struct, frozen=True, kw_only=True):
    """An unset field stays; ``email``/``phone`` given replace the primary one (blank: none)."""

    name: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    phone: str | UnsetType = UNSET
    notes: str | UnsetType = UNSET
    allow_duplicates: bool = False


class ContactOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID  # the person's party
    name: str
    email: str | None
    phone: str | None
    notes: str


class FollowUpIn(msgspec.Struct, frozen=True, kw_only=True):
    """A call, visit, meeting, message or e-mail that happened (``happened_at``: now when
    not given). ``next_on`` plans the next one: a reminder for the customer's owner."""

    kind: str
    content: str
    happened_at: datetime | None = None
    contact_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    next_on: date | None = None


class FollowUpOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    party_id: uuid.UUID
    kind: str
    content: str
    happened_at: datetime
    contact_id: uuid.UUID | None
    contact_name: str | None
    opportunity_id: uuid.UUID | None
    next_on: date | None
    next_activity_id: uuid.UUID | None
    owner_id: uuid.UUID | None  # who followed up
    owner_name: str | None


class PoolSettingsIn(msgspec.Struct, frozen=True, kw_only=True):
    """The public pool's rules. A day count of ``None`` switches that rule off."""

    no_follow_up_days: int | None
    no_deal_days: int | None
    notice_days: int
    claim_limit: int


class PoolSettingsOut(msgspec.Struct, frozen=True, kw_only=True):
    no_follow_up_days: int | None
    no_deal_days: int | None
    notice_days: int
    claim_limit: int


class ClaimOut(msgspec.Struct, frozen=True, kw_only=True):
    """A claimed customer, and how many the claimer owns now against the limit."""

    customer: CustomerOut
    owned: int
    claim_limit: int
