"""Parties: create with duplicate detection, change, read within data scope, merge.

Every function that reads or writes parties takes the acting member
(:class:`core.permissions.Actor`) and limits itself to what their data scope
on ``core.party`` shows (:func:`core.permissions.visible`): a party outside
it is not found. Duplicate detection looks at the whole workspace (a
duplicate the member cannot see is still a duplicate) but names only the
candidates the member may see.

Merging repoints every reference to the merged party, wherever it is: the
foreign keys to ``core_party`` are read from PostgreSQL's catalog at run
time, so a module's tables are covered without registering them.
"""

from __future__ import annotations

import base64
import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence

import msgspec
from msgspec import UNSET
from sqlalchemy import (
    ColumnElement,
    Executable,
    Uuid,
    and_,
    any_,
    bindparam,
    exists,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core import audit
from core.db import add_unique
from core.errors import Conflict, NotFound, TenantMismatchError, ValidationFailed
from core.i18n import N_
from core.models import Department, Membership, Tenant
from core.parties.models import (
    COMPANY,
    EMAIL,
    PERSON,
    PHONE,
    Party,
    PartyAddress,
    PartyContactPoint,
    PartyTag,
    PartyTagging,
)
from core.parties.normalise import (
    email_domain,
    fold,
    is_free_mail,
    normalise_email,
    normalise_name,
    normalise_phone,
)
from core.parties.schemas import (
    AddressIn,
    ContactPointIn,
    DuplicateCandidate,
    PartyChanges,
    PartyIn,
    PartyPage,
    PartySummary,
)
from core.permissions import Actor, Scope, visible
from core.reads import TenantRead

RESOURCE = "core.party"
READ, WRITE, MERGE = f"{RESOURCE}.read", f"{RESOURCE}.write", f"{RESOURCE}.merge"
MAX_PAGE = 200
NAME_MAX, NOTES_MAX = 200, 10_000


class DuplicateSuspected(Conflict):
    """The party being entered looks like one that exists; ``candidates`` says which and why.

    The caller shows them and, if the user confirms, repeats the call with
    ``allow_duplicates=True``.
    """

    code = "duplicate_suspected"

    def __init__(self, candidates: list[DuplicateCandidate]) -> None:
        super().__init__(
            N_("This looks like a party that already exists."),
            candidates=[str(c.party_id) for c in candidates],
        )
        self.candidates = candidates


# --- checks ----------------------------------------------------------------------------------


def _same_tenant(session: AsyncSession, actor: Actor) -> None:
    if session.info.get("tenant_id") != actor.tenant_id:
        raise TenantMismatchError("The actor belongs to another tenant than this session's")


def _bounded(value: str, limit: int, message: str) -> str:
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(message, max=limit)
    return value


def _optional(value: str | None, limit: int, message: str) -> str | None:
    """A stripped value, with a blank one stored as None."""
    if value is None:
        return None
    return _bounded(value, limit, message) or None


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed("A party's name has 1 to {max} characters.", max=NAME_MAX)
    return name


def _notes(notes: str) -> str:
    return _bounded(notes, NOTES_MAX, "Notes have at most {max} characters.")


def _tax_id(tax_id: str | None) -> str | None:
    checked = _optional(tax_id, 50, "A tax number has at most {max} characters.")
    return checked.upper() if checked else None


def _website(website: str | None) -> str | None:
    return _optional(website, 200, "A website address has at most {max} characters.")


async def _locale(session: AsyncSession) -> str:
    """The workspace's language, which says how phone numbers without a country are read."""
    locale = await session.scalar(
        select(Tenant.locale).where(Tenant.id == session.info["tenant_id"])
    )
    return locale or "en"


async def _company(
    session: AsyncSession, actor: Actor, kind: str, company_id: uuid.UUID | None
) -> uuid.UUID | None:
    """A person's employer: a company the member can see, not merged away."""
    if company_id is None:
        return None
    if kind != PERSON:
        raise ValidationFailed("Only a person works at a company.")
    company = await session.scalar(
        select(Party).where(Party.id == company_id, visible(actor, RESOURCE, Party))
    )
    if company is None:
        raise NotFound("No party {id}.", id=str(company_id))
    if company.kind != COMPANY or company.merged_into_id is not None:
        raise ValidationFailed("{name} is not a company one can work at.", name=company.name)
    return company.id


async def _owner(session: AsyncSession, owner_id: uuid.UUID | None) -> uuid.UUID | None:
    if owner_id is not None and (
        await session.scalar(select(Membership.id).where(Membership.user_id == owner_id)) is None
    ):
        raise ValidationFailed("The owner must be a member of this workspace.")
    return owner_id


async def _department(session: AsyncSession, department_id: uuid.UUID | None) -> uuid.UUID | None:
    if department_id is not None and (
        await session.scalar(select(Department.id).where(Department.id == department_id)) is None
    ):
        raise NotFound("No department {id}.", id=str(department_id))
    return department_id


def _contact_points(
    points: Iterable[ContactPointIn], locale: str, existing: Sequence[PartyContactPoint] = ()
) -> list[PartyContactPoint]:
    """Normalised contact points, the same one given twice kept once, one primary per kind.

    A point already on the party (same kind and normalised value) is kept as
    that row, so its id survives an edit.
    """
    by_value = {(p.kind, p.value_normalised): p for p in existing}
    rows: dict[tuple[str, str], PartyContactPoint] = {}
    for point in points:
        if point.kind == EMAIL:
            normalised = normalise_email(point.value)
            domain: str | None = email_domain(normalised)
        elif point.kind == PHONE:
            normalised, domain = normalise_phone(point.value, locale), None
        else:
            raise ValidationFailed("A contact point is an e-mail address or a phone number.")
        key = (point.kind, normalised)
        if key in rows:
            continue
        row = by_value.get(key) or PartyContactPoint(kind=point.kind, value_normalised=normalised)
        row.value = _bounded(point.value, 320, "A contact value has at most {max} characters.")
        row.domain = domain
        row.label = _bounded(point.label, 50, "A label has at most {max} characters.")
        row.is_primary = point.is_primary
        rows[key] = row
    for kind in (EMAIL, PHONE):
        of_kind = [row for row in rows.values() if row.kind == kind]
        primary = next((row for row in of_kind if row.is_primary), of_kind[0] if of_kind else None)
        for row in of_kind:
            row.is_primary = row is primary
    return list(rows.values())


def _addresses(
    addresses: Iterable[AddressIn], existing: Sequence[PartyAddress] = ()
) -> list[PartyAddress]:
    """Checked addresses; one that names an existing address's id updates that row."""
    by_id = {a.id: a for a in existing}
    rows = []
    for given in addresses:
        if given.id is not None and given.id not in by_id:
            raise NotFound("No address {id}.", id=str(given.id))
        row = by_id[given.id] if given.id is not None else PartyAddress()
        line1 = given.line1.strip()
        if not line1 or len(line1) > 200:
            raise ValidationFailed("An address needs a first line of at most 200 characters.")
        country = given.country.strip().upper()
        if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise ValidationFailed("A country is a two-letter code such as CN or US.")
        too_long = "An address field has at most {max} characters."
        row.line1, row.country = line1, country
        row.label = _bounded(given.label, 50, "A label has at most {max} characters.")
        row.line2 = _bounded(given.line2, 200, too_long)
        row.city = _bounded(given.city, 100, too_long)
        row.region = _bounded(given.region, 100, too_long)
        row.postcode = _bounded(given.postcode, 20, too_long)
        rows.append(row)
    return rows


async def _taggings(
    session: AsyncSession, names: Iterable[str], existing: Sequence[PartyTagging] = ()
) -> list[PartyTagging]:
    """Taggings for ``names``; a tag the workspace lacks is created, one already on is kept."""
    current = {t.tag.name: t for t in existing}
    wanted = list(dict.fromkeys(name.strip() for name in names))
    if any(not name or len(name) > 50 for name in wanted):
        raise ValidationFailed("A tag has 1 to 50 characters.")
    rows = []
    for name in wanted:
        if name in current:
            rows.append(current[name])
            continue
        tag = await session.scalar(select(PartyTag).where(PartyTag.name == name))
        if tag is None:
            tag = PartyTag(name=name)
            if not await add_unique(session, tag):  # created meanwhile by someone else
                tag = await session.scalar(select(PartyTag).where(PartyTag.name == name))
        rows.append(PartyTagging(tag=tag))
    return rows


# --- duplicates ------------------------------------------------------------------------------

_LIVE = Party.merged_into_id.is_(None)
_POINT_OF_PARTY = and_(
    PartyContactPoint.tenant_id == Party.tenant_id, PartyContactPoint.party_id == Party.id
)


async def find_duplicates(
    session: AsyncSession,
    actor: Actor,
    *,
    kind: str,
    name: str,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    company_id: uuid.UUID | None = None,
    exclude_id: uuid.UUID | None = None,
) -> list[DuplicateCandidate]:
    """Existing parties that look like the one described, most reasons first.

    A party matches on its normalised name (a person's only at the same
    company: namesakes are common), on an e-mail address or phone number, and
    a company on its e-mail domain (its own addresses' or its people's),
    free-mail domains aside. Merged parties never match.
    """
    actor.require(READ)
    _same_tenant(session, actor)
    locale = await _locale(session)
    return await _duplicates(
        session,
        actor,
        kind=kind,
        name_normalised=normalise_name(name),
        emails={normalise_email(e) for e in emails},
        phones={normalise_phone(p, locale) for p in phones},
        company_id=company_id,
        exclude_id=exclude_id,
    )


async def _duplicates(
    session: AsyncSession,
    actor: Actor,
    *,
    kind: str,
    name_normalised: str | None,
    emails: set[str],
    phones: set[str],
    company_id: uuid.UUID | None,
    exclude_id: uuid.UUID | None,
) -> list[DuplicateCandidate]:
    reasons: dict[uuid.UUID, set[str]] = defaultdict(set)
    if name_normalised:
        same_name = select(Party.id).where(
            Party.name_normalised == name_normalised, Party.kind == kind, _LIVE
        )
        if kind == PERSON:
            same_name = same_name.where(Party.company_id.is_not_distinct_from(company_id))
        for party_id in await session.scalars(same_name):
            reasons[party_id].add("name")
    if emails or phones:
        same_point = (
            select(Party.id, PartyContactPoint.kind)
            .join(PartyContactPoint, _POINT_OF_PARTY)
            .where(
                _LIVE,
                or_(
                    and_(
                        PartyContactPoint.kind == EMAIL,
                        PartyContactPoint.value_normalised.in_(emails),
                    ),
                    and_(
                        PartyContactPoint.kind == PHONE,
                        PartyContactPoint.value_normalised.in_(phones),
                    ),
                ),
            )
        )
        for party_id, point_kind in await session.execute(same_point):
            reasons[party_id].add(point_kind)
    domains = {d for d in map(email_domain, emails) if not is_free_mail(d)}
    if kind == COMPANY and domains:
        same_domain = (
            select(Party.id, Party.kind, Party.company_id)
            .join(PartyContactPoint, _POINT_OF_PARTY)
            .where(_LIVE, PartyContactPoint.kind == EMAIL, PartyContactPoint.domain.in_(domains))
        )
        for party_id, party_kind, employer_id in await session.execute(same_domain):
            company = party_id if party_kind == COMPANY else employer_id
            if company is not None:
                reasons[company].add("email_domain")
    reasons.pop(exclude_id, None)  # type: ignore[arg-type]
    if not reasons:
        return []
    seen = select(Party.id, Party.name).where(
        Party.id.in_(list(reasons)), visible(actor, RESOURCE, Party)
    )
    names = {row.id: row.name for row in await session.execute(seen)}
    candidates = [
        DuplicateCandidate(party_id=party_id, name=names.get(party_id), reasons=tuple(sorted(why)))
        for party_id, why in reasons.items()
    ]
    candidates.sort(key=lambda c: (-len(c.reasons), c.name is None, c.name or "", c.party_id))
    return candidates


# --- create, change, read --------------------------------------------------------------------


async def create_party(
    session: AsyncSession, actor: Actor, data: PartyIn, *, allow_duplicates: bool = False
) -> Party:
    """Create a party, or raise :class:`DuplicateSuspected` unless duplicates are allowed."""
    actor.require(WRITE)
    _same_tenant(session, actor)
    if data.kind not in (COMPANY, PERSON):
        raise ValidationFailed("A party is a company or a person.")
    locale = await _locale(session)
    name = _name(data.name)
    points = _contact_points(data.contact_points, locale)
    party = Party(
        kind=data.kind,
        name=name,
        name_normalised=normalise_name(name),
        is_customer=data.is_customer,
        is_supplier=data.is_supplier,
        company_id=await _company(session, actor, data.kind, data.company_id),
        tax_id=_tax_id(data.tax_id),
        website=_website(data.website),
        notes=_notes(data.notes),
        active=True,
        owner_id=await _owner(session, actor.user_id if data.owner_id is UNSET else data.owner_id),
        department_id=await _department(
            session, actor.department_id if data.department_id is UNSET else data.department_id
        ),
        contact_points=points,
        addresses=_addresses(data.addresses),
    )
    if not allow_duplicates:
        candidates = await _duplicates(
            session,
            actor,
            kind=party.kind,
            name_normalised=party.name_normalised,
            emails={p.value_normalised for p in points if p.kind == EMAIL},
            phones={p.value_normalised for p in points if p.kind == PHONE},
            company_id=party.company_id,
            exclude_id=None,
        )
        if candidates:
            raise DuplicateSuspected(candidates)
    party.taggings = await _taggings(session, data.tags)
    session.add(party)
    await session.flush()
    await session.refresh(party, ["created_at"])
    return party


async def update_party(
    session: AsyncSession,
    actor: Actor,
    party_id: uuid.UUID,
    changes: PartyChanges,
    *,
    allow_duplicates: bool = False,
) -> Party:
    """Change a party the member can see. A new name, e-mail address or phone number is
    checked for duplicates like a new party (:class:`DuplicateSuspected`).

    A refused change is rolled back to a savepoint, which expires the party
    object: read it again (``get_party``) rather than reuse it.
    """
    actor.require(WRITE)
    _same_tenant(session, actor)
    party = await _load(session, actor, party_id, for_update=True)
    if party.merged_into_id is not None:
        raise Conflict("{name} was merged into another party; change that one.", name=party.name)
    old_name, old_company = party.name_normalised, party.company_id
    old_points = {(p.kind, p.value_normalised) for p in party.contact_points}
    # In a savepoint: a refusal half-way leaves neither rows nor pending changes behind.
    async with session.begin_nested():
        await _apply(session, actor, party, changes)
        await session.flush()
        if allow_duplicates:
            return party
        renamed = (party.name_normalised, party.company_id) != (old_name, old_company)
        new_points = {(p.kind, p.value_normalised) for p in party.contact_points} - old_points
        candidates = await _duplicates(
            session,
            actor,
            kind=party.kind,
            name_normalised=party.name_normalised if renamed else None,
            emails={value for kind, value in new_points if kind == EMAIL},
            phones={value for kind, value in new_points if kind == PHONE},
            company_id=party.company_id,
            exclude_id=party.id,
        )
        if candidates:
            raise DuplicateSuspected(candidates)
    return party


async def _apply(session: AsyncSession, actor: Actor, party: Party, changes: PartyChanges) -> None:
    if changes.name is not UNSET:
        party.name = _name(changes.name)
        party.name_normalised = normalise_name(party.name)
    if changes.company_id is not UNSET:
        party.company_id = await _company(session, actor, party.kind, changes.company_id)
    if changes.contact_points is not UNSET:
        party.contact_points = _contact_points(
            changes.contact_points, await _locale(session), party.contact_points
        )
    if changes.addresses is not UNSET:
        party.addresses = _addresses(changes.addresses, party.addresses)
    if changes.tags is not UNSET:
        party.taggings = await _taggings(session, changes.tags, party.taggings)
    if changes.owner_id is not UNSET:
        party.owner_id = await _owner(session, changes.owner_id)
    if changes.department_id is not UNSET:
        party.department_id = await _department(session, changes.department_id)
    for field, check in (("tax_id", _tax_id), ("website", _website), ("notes", _notes)):
        value = getattr(changes, field)
        if value is not UNSET:
            setattr(party, field, check(value))
    for field in ("is_customer", "is_supplier", "active"):
        value = getattr(changes, field)
        if value is not UNSET:
            setattr(party, field, value)


async def get_party(session: AsyncSession, actor: Actor, party_id: uuid.UUID) -> Party:
    """A party with its contact points, addresses and tags; NotFound outside the scope."""
    actor.require(READ)
    _same_tenant(session, actor)
    return await _load(session, actor, party_id)


async def _load(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, *, for_update: bool = False
) -> Party:
    query = (
        select(Party)
        .where(Party.id == party_id, visible(actor, RESOURCE, Party))
        .options(
            selectinload(Party.contact_points),
            selectinload(Party.addresses),
            selectinload(Party.taggings),
        )
        .execution_options(populate_existing=True)
    )
    if for_update:
        query = query.with_for_update(of=Party)
    party = await session.scalar(query)
    if party is None:
        raise NotFound("No party {id}.", id=str(party_id))
    return party


# --- lists -----------------------------------------------------------------------------------

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


def _search(text_: str) -> ColumnElement[bool]:
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
        filters.append(_search(search))
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


# --- merge -----------------------------------------------------------------------------------

# Every foreign key to core_party, as (referencing table, referencing column), with whether
# the app role may change that table (an append-only history keeps naming the merged party).
_REFERENCES = text("""
    SELECT con.conrelid::regclass::text AS table_name,
           ARRAY(SELECT quote_ident(a.attname)
                 FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                 ORDER BY k.n) AS columns,
           ARRAY(SELECT a.attname::text
                 FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                 ORDER BY k.n) AS targets,
           has_table_privilege(con.conrelid, 'UPDATE')
           AND has_table_privilege(con.conrelid, 'DELETE') AS writable,
           con.conrelid AS table_oid
    FROM pg_constraint con
    WHERE con.contype = 'f' AND con.confrelid = 'core_party'::regclass
    ORDER BY 1, 2
""")
# Plain unique keys of a table (no expressions, no WHERE), for the rows a repoint would collide.
_UNIQUE_KEYS = text("""
    SELECT ARRAY(SELECT quote_ident(a.attname)
                 FROM unnest(i.indkey::int2[]) AS k(attnum)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
               AS columns,
           i.indnullsnotdistinct AS nulls_equal
    FROM pg_index i
    WHERE i.indrelid = :table_oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
""")


async def merge_parties(
    session: AsyncSession, actor: Actor, keep_id: uuid.UUID, merge_id: uuid.UUID
) -> Party:
    """Merge ``merge_id`` into ``keep_id``: every reference to it, in any table, now names
    the kept party; the merged party stays, inactive, with ``merged_into_id`` set.

    The kept party keeps its own values and takes the merged one's where it
    has none; it is a customer or supplier if either was. A row that would
    then repeat one of the kept party's under a unique key (the same tag, the
    same e-mail address) is dropped. Both parties must be visible to the member.
    Objects read before the merge that referred to the merged party are stale
    afterwards: read them again.
    """
    actor.require(MERGE)
    _same_tenant(session, actor)
    if keep_id == merge_id:
        raise ValidationFailed("A party cannot be merged into itself.")
    locked = await session.scalars(
        select(Party)
        .where(Party.id.in_([keep_id, merge_id]), visible(actor, RESOURCE, Party))
        .order_by(Party.id)  # both lockers lock in one order: no deadlock
        .with_for_update()
    )
    parties = {party.id: party for party in locked}
    for party_id in (keep_id, merge_id):
        if party_id not in parties:
            raise NotFound("No party {id}.", id=str(party_id))
    keep, merged = parties[keep_id], parties[merge_id]
    for party in (keep, merged):
        if party.merged_into_id is not None:
            raise Conflict("{name} was already merged into another party.", name=party.name)
    if keep.kind != merged.kind:
        raise ValidationFailed("Only parties of the same kind can be merged.")

    keep.is_customer = keep.is_customer or merged.is_customer
    keep.is_supplier = keep.is_supplier or merged.is_supplier
    keep.active = keep.active or merged.active
    for field in ("company_id", "tax_id", "website", "notes"):
        if not getattr(keep, field):
            setattr(keep, field, getattr(merged, field))
    # The kept party's primary e-mail address and phone number stay primary.
    kept_primaries = select(PartyContactPoint.kind).where(
        PartyContactPoint.party_id == keep_id, PartyContactPoint.is_primary
    )
    await session.execute(
        update(PartyContactPoint)
        .where(
            PartyContactPoint.party_id == merge_id,
            PartyContactPoint.kind.in_(kept_primaries.scalar_subquery()),
        )
        .values(is_primary=False)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    repointed, dropped = await _repoint_references(session, keep.tenant_id, keep_id, merge_id)
    merged.merged_into_id = keep_id
    merged.active = False
    await session.flush()
    await audit.record(
        session,
        "core.party.merged",
        actor_id=actor.user_id,
        subject_type=RESOURCE,
        subject_id=keep_id,
        detail={
            "merged_id": str(merge_id),
            "merged_name": merged.name,
            "repointed": repointed,
            "dropped": dropped,
        },
    )
    return await _load(session, actor, keep_id)


async def _repoint_references(
    session: AsyncSession, tenant_id: uuid.UUID, keep_id: uuid.UUID, merge_id: uuid.UUID
) -> tuple[dict[str, int], dict[str, int]]:
    """Point every foreign key to ``merge_id`` at ``keep_id``; count rows moved and dropped."""
    repointed: dict[str, int] = {}
    dropped: dict[str, int] = {}
    params = {"tenant_id": tenant_id, "keep": keep_id, "merge": merge_id}
    for ref in await session.execute(_REFERENCES):
        pairs = dict(zip(ref.targets, ref.columns, strict=True))
        if set(pairs) != {"tenant_id", "id"} or not ref.writable:
            continue  # not a tenant reference, or history the app may not rewrite
        table, column, tenant = ref.table_name, pairs["id"], pairs["tenant_id"]
        where = f"{tenant} = :tenant_id AND {column} = :merge"
        for key in await session.execute(_UNIQUE_KEYS, {"table_oid": ref.table_oid}):
            if column not in key.columns:
                continue
            same = "IS NOT DISTINCT FROM" if key.nulls_equal else "="
            others = [c for c in key.columns if c not in (column, tenant)]
            collides = " AND ".join(
                [f"k.{tenant} = m.{tenant}", f"k.{column} = :keep"]
                + [f"k.{c} {same} m.{c}" for c in others]
            )
            result = await session.execute(
                text(
                    f"DELETE FROM {table} AS m WHERE m.{tenant} = :tenant_id "
                    f"AND m.{column} = :merge AND EXISTS (SELECT 1 FROM {table} AS k "
                    f"WHERE {collides})"
                ),
                params,
            )
            if result.rowcount:
                dropped[f"{table}.{column}"] = dropped.get(f"{table}.{column}", 0) + result.rowcount
        result = await session.execute(
            text(f"UPDATE {table} SET {column} = :keep WHERE {where}"), params
        )
        if result.rowcount:
            repointed[f"{table}.{column}"] = result.rowcount
    return repointed, dropped
