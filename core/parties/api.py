"""JSON API for parties (customers, suppliers, contacts), mounted under ``/api/t/{slug}``.

Reading needs ``core.party.read``, creating and changing ``core.party.write``,
merging ``core.party.merge`` (a guard answers 403 naming the code). The data
scope is the services' business: a party outside it is not listed, not
exported and not found (404).

A new party, or a change of name, e-mail address or phone number, that looks
like an existing party is refused with 409 ``duplicate_suspected`` and the
candidates (id, name if the member may see it, reasons); the client shows
them and, if the user confirms, sends the same body with
``"allow_duplicates": true``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from core.errors import ValidationFailed
from core.exchange.exports import MEDIA_TYPES
from core.exchange.parties import export_party_list
from core.parties import services
from core.parties.models import COMPANY, PERSON, Party
from core.parties.schemas import (
    DuplicateCandidate,
    PartyChanges,
    PartyIn,
    PartyKind,
    PartyPage,
)
from core.parties.services import MERGE, READ, WRITE, DuplicateSuspected
from web.deps import CurrentActor, DbSession
from web.tenancy import requires


class PartyCreate(PartyIn, frozen=True, kw_only=True):
    """A new party; ``allow_duplicates`` confirms one that looks like an existing party."""

    allow_duplicates: bool = False


class PartyUpdate(PartyChanges, frozen=True, kw_only=True):
    """Changes to a party; ``allow_duplicates`` confirms them when they look like another."""

    allow_duplicates: bool = False


class ContactPointOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    kind: str
    value: str
    label: str
    is_primary: bool


class AddressOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    label: str
    line1: str
    line2: str
    city: str
    region: str
    postcode: str
    country: str


class PartyDetail(msgspec.Struct, frozen=True, kw_only=True):
    """A party with everything on it; ``merged_into_id`` names the party it lives on in."""

    id: uuid.UUID
    kind: str
    name: str
    is_customer: bool
    is_supplier: bool
    active: bool
    company_id: uuid.UUID | None
    tax_id: str | None
    website: str | None
    notes: str
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    merged_into_id: uuid.UUID | None
    contact_points: list[ContactPointOut]
    addresses: list[AddressOut]
    tags: list[str]
    created_at: datetime


def party_detail(party: Party) -> PartyDetail:
    return PartyDetail(
        id=party.id,
        kind=party.kind,
        name=party.name,
        is_customer=party.is_customer,
        is_supplier=party.is_supplier,
        active=party.active,
        company_id=party.company_id,
        tax_id=party.tax_id,
        website=party.website,
        notes=party.notes,
        owner_id=party.owner_id,
        department_id=party.department_id,
        merged_into_id=party.merged_into_id,
        contact_points=[
            ContactPointOut(
                id=p.id, kind=p.kind, value=p.value, label=p.label, is_primary=p.is_primary
            )
            for p in party.contact_points
        ],
        addresses=[
            AddressOut(
                id=a.id,
                label=a.label,
                line1=a.line1,
                line2=a.line2,
                city=a.city,
                region=a.region,
                postcode=a.postcode,
                country=a.country,
            )
            for a in party.addresses
        ],
        tags=party.tag_names,
        created_at=party.created_at,
    )


def _naming_candidates(suspected: DuplicateSuspected) -> DuplicateSuspected:
    """The refusal with each candidate's name (when visible) and reasons, not only its id:
    what a client needs to offer "open that one" or "create it anyway"."""
    suspected.params["candidates"] = msgspec.to_builtins(suspected.candidates)
    return suspected


def _list_filters(
    q: str | None, role: str | None, tag: str | None, kind: str | None, include_archived: bool
) -> dict[str, Any]:
    """The list's filters for the services; a blank one (``?role=`` from a form) means any."""
    if kind and kind not in (COMPANY, PERSON):
        raise ValidationFailed("A party is a company or a person.")
    return {
        "search": q or None,
        "role": role or None,
        "tag": tag or None,
        "kind": kind or None,
        "active": None if include_archived else True,
    }


@get("/parties", guards=[requires(READ)], summary="Parties by name, with search and filters")
async def list_parties(
    session: DbSession,
    actor: CurrentActor,
    q: FromQuery[str | None] = None,
    role: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    include_archived: FromQuery[bool] = False,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = 50,
) -> PartyPage:
    """``q`` finds a name, tax number, e-mail address or phone number; ``role`` is customer,
    supplier or both; ``tag`` a tag's name; ``kind`` company or person. Pass
    ``next_cursor`` back as ``after`` for the next page (at most 200 rows a page)."""
    return await services.list_parties(
        session,
        actor,
        **_list_filters(q, role, tag, kind, include_archived),
        cursor=after or None,
        limit=limit,
    )


@post("/parties", guards=[requires(WRITE)], summary="Create a party")
async def create_party(
    session: DbSession, actor: CurrentActor, data: JSONBody[PartyCreate]
) -> PartyDetail:
    try:
        party = await services.create_party(
            session, actor, data, allow_duplicates=data.allow_duplicates
        )
    except DuplicateSuspected as suspected:
        raise _naming_candidates(suspected) from None
    return party_detail(party)


@get(
    "/parties/duplicates",
    guards=[requires(READ)],
    summary="Existing parties that look like the one being entered",
)
async def find_duplicates(
    session: DbSession,
    actor: CurrentActor,
    name: FromQuery[str] = "",
    email: FromQuery[list[str] | None] = None,
    phone: FromQuery[list[str] | None] = None,
    kind: FromQuery[PartyKind] = "company",
    company_id: FromQuery[uuid.UUID | None] = None,
) -> list[DuplicateCandidate]:
    """Offered while a party is entered; ``email`` and ``phone`` may be repeated."""
    return await services.find_duplicates(
        session,
        actor,
        kind=kind,
        name=name,
        emails=[e for e in email or () if e.strip()],
        phones=[p for p in phone or () if p.strip()],
        company_id=company_id,
    )


@get("/parties/export", guards=[requires(READ)], summary="The party list as CSV or Excel")
async def export_parties(
    session: DbSession,
    actor: CurrentActor,
    file_format: Annotated[str, QueryParameter(name="format")] = "csv",
    q: FromQuery[str | None] = None,
    role: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
    kind: FromQuery[str | None] = None,
    include_archived: FromQuery[bool] = False,
) -> Response[bytes]:
    """The rows the member sees in the list with the same filters, every page of them."""
    content = await export_party_list(
        session, actor, file_format, **_list_filters(q, role, tag, kind, include_archived)
    )
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={"content-disposition": f'attachment; filename="parties.{file_format}"'},
    )


@get("/parties/{party_id:uuid}", guards=[requires(READ)], summary="A party with its details")
async def get_party(
    session: DbSession, actor: CurrentActor, party_id: FromPath[uuid.UUID]
) -> PartyDetail:
    return party_detail(await services.get_party(session, actor, party_id))


@patch("/parties/{party_id:uuid}", guards=[requires(WRITE)], summary="Change a party")
async def update_party(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: JSONBody[PartyUpdate],
) -> PartyDetail:
    """Fields left out stay as they are; ``contact_points``, ``addresses`` and ``tags``,
    when given, are the whole new list."""
    try:
        await services.update_party(
            session, actor, party_id, data, allow_duplicates=data.allow_duplicates
        )
    except DuplicateSuspected as suspected:
        raise _naming_candidates(suspected) from None
    return party_detail(await services.get_party(session, actor, party_id))


@post(
    "/parties/{party_id:uuid}/merge-into/{keep_id:uuid}",
    guards=[requires(MERGE)],
    status_code=HTTP_200_OK,
    summary="Merge a party into another; every reference moves to the kept one",
)
async def merge_party(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    keep_id: FromPath[uuid.UUID],
) -> PartyDetail:
    """``party_id`` is kept, inactive, pointing at ``keep_id``; the answer is the kept party."""
    return party_detail(await services.merge_parties(session, actor, keep_id, party_id))


API = [
    list_parties,
    create_party,
    find_duplicates,
    export_parties,
    get_party,
    update_party,
    merge_party,
]
