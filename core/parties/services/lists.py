"""The scoped party list (search, filters, keyset pages) and the export that reads it."""

from __future__ import annotations

import base64
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator

import msgspec
from sqlalchemy import (
    ColumnElement,
    Executable,
    Uuid,
    any_,
    bindparam,
    exists,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.parties.models import EMAIL, PHONE, Party, PartyContactPoint, PartyTag, PartyTagging
from core.parties.normalise import fold, normalise_name
from core.parties.schemas import PartyPage, PartySummary
from core.parties.services.checks import _LIVE, READ, RESOURCE, _same_tenant
from core.permissions import Actor, Scope
from core.reads import TenantRead

MAX_PAGE = 200

_SUMMARY = (
    Party.id,
    Party.kind,
    Party.name,
    Party.is_customer,
    Party.is_supplier,
    Party.active,
    Party.company_id,
    Party.owner_id,
    Party.department_id,
)
PRIMARY_POINTS = TenantRead(
    PartyContactPoint,
    select(PartyContactPoint.party_id, PartyContactPoint.kind, PartyContactPoint.value).where(
        PartyContactPoint.party_id == any_(bindparam("party_ids", type_=ARRAY(Uuid))),
        PartyContactPoint.is_primary,
    ),
)


def _visible_branches(actor: Actor) -> list[ColumnElement[bool]]:
    """:func:`core.permissions.visible` for ``actor`` on parties, cut into conditions
    that each have an index serving them in (name, id) order.

    ``owner = me OR department IN (...)`` as one condition makes PostgreSQL
    collect and sort every matching row before it can return a first page
    (a department of 2,000 parties: 2,000 rows read for 50 shown). As one
    branch per department, plus one for the member's own rows elsewhere,
    each branch reads just a page from its index, and a scoped list costs
    about what the whole list does. The own-rows branch overlaps the
    department branches (a UNION drops the repeats): "mine outside these
    departments" would read every row the member owns inside them to throw
    it away (bench/data_scope.py). The union equals ``visible()`` exactly
    (the tests compare them for every scope); ``visible()`` itself is not
    added to the branches, since its OR would bring back the sort.
    """
    scope = actor.scope(RESOURCE)
    if scope is None:
        return []
    if scope is Scope.ALL:
        return [true()]
    mine = Party.owner_id == actor.user_id
    departments: tuple[uuid.UUID, ...] = ()
    if scope is Scope.DEPARTMENT_TREE:
        departments = actor.department_tree
    elif scope is Scope.DEPARTMENT and actor.department_id is not None:
        departments = (actor.department_id,)
    if not departments:
        return [mine]
    return [*(Party.department_id == d for d in departments), mine]


def _encode_cursor(name: str, party_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([name, str(party_id)])).decode()


def _decode_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    try:
        name, party_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()))
        return str(name), uuid.UUID(party_id)
    except (ValueError, TypeError, msgspec.DecodeError):
        raise ValidationFailed("This page link is no longer valid.") from None


def search_clause(text_: str) -> ColumnElement[bool]:
    """Name, tax number, e-mail address or phone number containing what was typed."""
    folded = fold(text_).replace(" ", "")
    point = exists().where(
        PartyContactPoint.tenant_id == Party.tenant_id,
        PartyContactPoint.party_id == Party.id,
    )
    conditions: list[ColumnElement[bool]] = [
        Party.name_normalised.contains(normalise_name(text_) or folded, autoescape=True),
        Party.tax_id == text_.strip().upper(),
        point.where(PartyContactPoint.value_normalised.contains(folded, autoescape=True)),
    ]
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text_))
    if len(digits) >= 4:
        conditions.append(
            point.where(
                PartyContactPoint.kind == PHONE,
                PartyContactPoint.value_normalised.contains(digits),
            )
        )
    return or_(*conditions)


def _filters(
    actor: Actor,
    *,
    search: str | None,
    role: str | None,
    tag: str | None,
    kind: str | None,
    active: bool | None,
    cursor: str | None,
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [Party.tenant_id == actor.tenant_id, _LIVE]
    if search and search.strip():
        filters.append(search_clause(search))
    if role == "customer":
        filters.append(Party.is_customer)
    elif role == "supplier":
        filters.append(Party.is_supplier)
    elif role == "both":
        filters.extend((Party.is_customer, Party.is_supplier))
    elif role is not None:
        raise ValidationFailed("Unknown role {role}: use customer, supplier or both.", role=role)
    if tag is not None:
        filters.append(
            exists()
            .where(
                PartyTagging.tenant_id == Party.tenant_id,
                PartyTagging.party_id == Party.id,
                PartyTag.tenant_id == PartyTagging.tenant_id,
                PartyTag.id == PartyTagging.tag_id,
            )
            .where(PartyTag.name == tag.strip())
        )
    if kind is not None:
        filters.append(Party.kind == kind)
    if active is not None:
        filters.append(Party.active.is_(active))
    if cursor is not None:
        after_name, after_id = _decode_cursor(cursor)
        filters.append(
            tuple_(Party.name, Party.id) > tuple_(literal(after_name), literal(after_id))
        )
    return filters


async def list_parties(
    session: AsyncSession,
    actor: Actor,
    *,
    search: str | None = None,
    role: str | None = None,
    tag: str | None = None,
    kind: str | None = None,
    active: bool | None = True,
    cursor: str | None = None,
    limit: int = 50,
) -> PartyPage:
    """A page of the parties the member may see, by name; merged parties never appear.

    ``role`` is customer, supplier or both; ``tag`` a tag's name; ``active``
    None lists archived parties too. Pass the page's ``next_cursor`` back as
    ``cursor`` for the next page.
    """
    actor.require(READ)
    _same_tenant(session, actor)
    limit = min(max(limit, 1), MAX_PAGE)
    filters = _filters(
        actor, search=search, role=role, tag=tag, kind=kind, active=active, cursor=cursor
    )
    branches = [
        select(*_SUMMARY).where(*filters, branch).order_by(Party.name, Party.id)
        for branch in _visible_branches(actor)
    ]
    if not branches:
        return PartyPage(items=[], next_cursor=None)
    query: Executable
    if len(branches) == 1:
        query = branches[0].limit(limit + 1)
    else:
        query = (
            union(*(b.limit(limit + 1) for b in branches))
            .order_by(literal_column("name"), literal_column("id"))
            .limit(limit + 1)
        )
    # A Core statement on the session's connection: the tenant criterion is in the
    # filters already (RLS behind it), and the ORM's per-statement work is skipped.
    connection = await session.connection()
    rows = (await connection.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    primary: dict[tuple[uuid.UUID, str], str] = {}
    if rows:
        points = await PRIMARY_POINTS.rows(session, party_ids=[row.id for row in rows])
        primary = {(p["party_id"], p["kind"]): p["value"] for p in points}
    items = [
        PartySummary(
            **row._asdict(), email=primary.get((row.id, EMAIL)), phone=primary.get((row.id, PHONE))
        )
        for row in rows
    ]
    last = rows[-1] if more else None
    return PartyPage(items=items, next_cursor=_encode_cursor(last.name, last.id) if last else None)


async def export_parties(
    session: AsyncSession,
    actor: Actor,
    *,
    search: str | None = None,
    role: str | None = None,
    tag: str | None = None,
    kind: str | None = None,
    active: bool | None = True,
) -> AsyncIterator[PartySummary]:
    """Every party the member may see that matches, by name, read page by page."""
    cursor: str | None = None
    while True:
        page = await list_parties(
            session,
            actor,
            search=search,
            role=role,
            tag=tag,
            kind=kind,
            active=active,
            cursor=cursor,
            limit=MAX_PAGE,
        )
        for item in page.items:
            yield item
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
