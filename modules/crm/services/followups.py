"""Follow-ups (跟进记录): a call, visit, meeting, message or e-mail with a customer.

Recording one keeps the customer's ``last_follow_up_at`` (what the pool's take-back rule
counts from) and, when the next follow-up is planned (``next_on``), makes it a core
activity for the customer's owner on the customer's party record: core's reminder job
turns it into a notification on the day, and it shows among the party's planned
activities. A new follow-up settles the reminders earlier ones planned (marked done with
what was recorded), so the owner is reminded of the latest plan only.

The history belongs to the customer, not to whoever wrote each entry: whoever may see
the customer reads all of it (a new owner reads the old owner's follow-ups).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.errors import NotFound, ValidationFailed
from core.i18n import N_, gettext
from core.identity.profile import time_zone_of
from core.models import User
from core.parties.models import PERSON, Party
from core.permissions import Actor, visible
from core.records.models import Activity
from core.records.timeline import MAX_SUMMARY, mark_activity_done, schedule_activity
from modules.crm import permissions as codes
from modules.crm.models import FollowUp, Opportunity
from modules.crm.models.customers import FOLLOW_UP_KINDS
from modules.crm.schemas.customers import FollowUpIn, FollowUpOut
from modules.crm.services.customers import PARTY_RECORD, get_customer, locked_customer
from modules.crm.services.profiles import ensure_customer

CONTENT_MAX = 10_000
PAGE_SIZE, MAX_PAGE = 50, 200
#: How far ahead of the server's clock a follow-up's time may be (clocks disagree a little).
CLOCK_SLACK = timedelta(minutes=5)
KINDS = {
    "call": N_("Call"),
    "visit": N_("Visit"),
    "meeting": N_("Meeting"),
    "message": N_("Message"),
    "email": N_("E-mail"),
}
assert tuple(KINDS) == FOLLOW_UP_KINDS


def _content(content: str) -> str:
    content = content.strip()
    if not content or len(content) > CONTENT_MAX:
        raise ValidationFailed(
            "Say what was talked about, in 1 to {max} characters.", max=CONTENT_MAX, field="content"
        )
    return content


def _happened_at(happened_at: datetime | None, now: datetime) -> datetime:
    if happened_at is None:
        return now
    if happened_at.tzinfo is None:
        raise ValidationFailed("Give the time with its UTC offset.", field="happened_at")
    if happened_at > now + CLOCK_SLACK:
        raise ValidationFailed(
            "A follow-up is recorded once it has happened, not ahead.", field="happened_at"
        )
    return happened_at


async def _contact(
    session: AsyncSession, party_id: uuid.UUID, contact_id: uuid.UUID | None
) -> uuid.UUID | None:
    if contact_id is None:
        return None
    found = await session.scalar(
        select(Party.id).where(
            Party.id == contact_id, Party.company_id == party_id, Party.kind == PERSON
        )
    )
    if found is None:
        raise ValidationFailed("Choose one of this customer's contacts.", field="contact_id")
    return found


async def _opportunity(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, opportunity_id: uuid.UUID | None
) -> uuid.UUID | None:
    if opportunity_id is None:
        return None
    found = await session.scalar(
        select(Opportunity.id).where(
            Opportunity.id == opportunity_id,
            Opportunity.party_id == party_id,
            visible(actor, "crm.opportunity", Opportunity),
        )
    )
    if found is None:
        raise ValidationFailed(
            "Choose one of this customer's opportunities.", field="opportunity_id"
        )
    return found


async def _settle_earlier_reminders(
    session: AsyncSession, party_id: uuid.UUID, user_id: uuid.UUID, content: str
) -> None:
    """Mark done the open reminders earlier follow-ups of the customer planned."""
    open_reminders = await session.scalars(
        select(Activity.id)
        .join(
            FollowUp,
            (FollowUp.tenant_id == Activity.tenant_id) & (FollowUp.next_activity_id == Activity.id),
        )
        .where(FollowUp.party_id == party_id, Activity.done_at.is_(None))
    )
    for activity_id in open_reminders.all():
        await mark_activity_done(session, activity_id, user_id, content)


async def record_follow_up(
    session: AsyncSession,
    actor: Actor,
    party_id: uuid.UUID,
    data: FollowUpIn,
    *,
    now: datetime | None = None,
) -> FollowUpOut:
    """Record a follow-up with a customer the actor may change, by the actor."""
    actor.require(codes.CUSTOMER_WRITE)
    now = now or datetime.now(UTC)
    party = await locked_customer(session, actor, party_id)
    if data.kind not in KINDS:
        raise ValidationFailed(
            "A follow-up is one of {kinds}.", kinds=", ".join(KINDS), field="kind"
        )
    content = _content(data.content)
    happened_at = _happened_at(data.happened_at, now)
    contact_id = await _contact(session, party_id, data.contact_id)
    opportunity_id = await _opportunity(session, actor, party_id, data.opportunity_id)
    if data.next_on is not None:
        today = now.astimezone(await time_zone_of(session, actor.user_id)).date()
        if data.next_on < today:
            raise ValidationFailed(
                "Plan the next follow-up for today or a later day.", field="next_on"
            )
    profile = await ensure_customer(session, party_id)
    await _settle_earlier_reminders(session, party_id, actor.user_id, content)
    follow_up = FollowUp(
        party_id=party_id,
        contact_id=contact_id,
        opportunity_id=opportunity_id,
        kind=data.kind,
        content=content,
        happened_at=happened_at,
        next_on=data.next_on,
        owner_id=actor.user_id,
        department_id=actor.department_id,
    )
    if data.next_on is not None:
        summary = gettext("Follow up with {customer}").format(customer=party.name)
        reminder = await schedule_activity(
            session,
            PARTY_RECORD,
            party_id,
            activity_type="todo",
            summary=summary[:MAX_SUMMARY],
            assignee_id=party.owner_id or actor.user_id,
            due_on=data.next_on,
            note=content,
            created_by=actor.user_id,
        )
        follow_up.next_activity_id = reminder.id
    session.add(follow_up)
    if profile.last_follow_up_at is None or happened_at > profile.last_follow_up_at:
        profile.last_follow_up_at = happened_at
    await session.flush()
    return (await _outs(session, select_follow_ups().where(FollowUp.id == follow_up.id)))[0]


def select_follow_ups() -> Select[tuple[FollowUp, str | None, str | None]]:
    """Follow-ups with the names of their contact and of who followed up."""
    contact = aliased(Party)
    return (
        select(FollowUp, contact.name.label("contact_name"), User.display_name.label("owner_name"))
        .outerjoin(
            contact,
            (contact.tenant_id == FollowUp.tenant_id) & (contact.id == FollowUp.contact_id),
        )
        .outerjoin(User, User.id == FollowUp.owner_id)
    )


async def _outs(
    session: AsyncSession, query: Select[tuple[FollowUp, str | None, str | None]]
) -> list[FollowUpOut]:
    rows = (await session.execute(query)).all()
    return [
        FollowUpOut(
            id=f.id,
            party_id=f.party_id,
            kind=f.kind,
            content=f.content,
            happened_at=f.happened_at,
            contact_id=f.contact_id,
            contact_name=contact_name,
            opportunity_id=f.opportunity_id,
            next_on=f.next_on,
            next_activity_id=f.next_activity_id,
            owner_id=f.owner_id,
            owner_name=owner_name,
        )
        for f, contact_name, owner_name in rows
    ]


async def list_follow_ups(
    session: AsyncSession,
    actor: Actor,
    party_id: uuid.UUID,
    *,
    before: uuid.UUID | None = None,
    limit: int = PAGE_SIZE,
) -> list[FollowUpOut]:
    """A customer's follow-ups, latest first; ``before`` (a follow-up's id) is the cursor."""
    await get_customer(session, actor, party_id)
    query = select_follow_ups().where(FollowUp.party_id == party_id)
    if before is not None:
        after = await session.scalar(
            select(FollowUp.happened_at).where(FollowUp.id == before, FollowUp.party_id == party_id)
        )
        if after is None:
            raise NotFound("No follow-up {id}.", id=str(before))
        query = query.where(tuple_(FollowUp.happened_at, FollowUp.id) < tuple_(after, before))
    limit = min(max(limit, 1), MAX_PAGE)
    return await _outs(
        session, query.order_by(FollowUp.happened_at.desc(), FollowUp.id.desc()).limit(limit)
    )
