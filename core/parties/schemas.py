"""What the party services take in and give back (msgspec Structs, also the API's bodies)."""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

PartyKind = Literal["company", "person"]
Role = Literal["customer", "supplier", "both"]
DuplicateReason = Literal["name", "email", "email_domain", "phone"]


class ContactPointIn(msgspec.Struct, frozen=True, kw_only=True):
    """An e-mail address or phone number as typed; the first primary of a kind wins."""

    kind: Literal["email", "phone"]
    value: str
    label: str = ""
    is_primary: bool = False


class AddressIn(msgspec.Struct, frozen=True, kw_only=True):
    """A postal address; ``id`` names an existing one to keep (and change) on update."""

    line1: str
    id: uuid.UUID | None = None
    label: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2, e.g. CN


class PartyIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new party. Owner and department default to the acting member's."""

    kind: PartyKind
    name: str
    is_customer: bool = False
    is_supplier: bool = False
    company_id: uuid.UUID | None = None  # a person's employer
    tax_id: str | None = None
    website: str | None = None
    notes: str = ""
    contact_points: tuple[ContactPointIn, ...] = ()
    addresses: tuple[AddressIn, ...] = ()
    tags: tuple[str, ...] = ()
    owner_id: uuid.UUID | UnsetType | None = UNSET
    department_id: uuid.UUID | UnsetType | None = UNSET


class PartyChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change on a party; an unset field stays as it is.

    ``contact_points``, ``addresses`` and ``tags``, when given, are the whole
    new list: what is not in it is removed.
    """

    name: str | UnsetType = UNSET
    is_customer: bool | UnsetType = UNSET
    is_supplier: bool | UnsetType = UNSET
    company_id: uuid.UUID | UnsetType | None = UNSET
    tax_id: str | UnsetType | None = UNSET
    website: str | UnsetType | None = UNSET
    notes: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    contact_points: tuple[ContactPointIn, ...] | UnsetType = UNSET
    addresses: tuple[AddressIn, ...] | UnsetType = UNSET
    tags: tuple[str, ...] | UnsetType = UNSET
    owner_id: uuid.UUID | UnsetType | None = UNSET
    department_id: uuid.UUID | UnsetType | None = UNSET


class PartySummary(msgspec.Struct, frozen=True, kw_only=True):
    """A row of a party list, with its primary e-mail address and phone number."""

    id: uuid.UUID
    kind: PartyKind
    name: str
    is_customer: bool
    is_supplier: bool
    active: bool
    company_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    email: str | None = None
    phone: str | None = None


class PartyPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a list; pass ``next_cursor`` back for the next, None at the end."""

    items: list[PartySummary]
    next_cursor: str | None


class DuplicateCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """An existing party that looks like the one being entered, and why.

    ``name`` is None when the party lies outside what the member may see:
    they learn that a duplicate exists, not whose it is.
    """

    party_id: uuid.UUID
    name: str | None
    reasons: tuple[DuplicateReason, ...]
