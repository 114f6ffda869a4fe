"""Duplicate detection: the parties an entry looks like, and the error that names them.

Detection looks at the whole workspace (a duplicate the member cannot see is
still a duplicate) but names only the candidates the member may see.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict
from core.i18n import N_
from core.parties.models import COMPANY, EMAIL, PERSON, PHONE, Party, PartyContactPoint
from core.parties.normalise import (
    email_domain,
    is_free_mail,
    normalise_email,
    normalise_name,
    normalise_phone,
)
from core.parties.schemas import DuplicateCandidate
from core.parties.services.checks import _LIVE, READ, RESOURCE, _locale, _same_tenant
from core.permissions import Actor, visible


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
