"""The public pool (公海): customers nobody owns, released by hand or taken back by rules,
that salespeople claim within a per-person limit.

- **Release**: the owner, or anyone whose scope shows the customer and who may change it
  (a manager, an admin), puts it back with a reason. The owner is told when it was
  someone else. The customer keeps its department, so a department-scoped pool role sees
  what its department let go.
- **Take-back** (the ``pool_take_back`` job): an owned customer with no follow-up for
  ``no_follow_up_days`` or no deal won for ``no_deal_days`` goes back. Both count from
  the latest of the last follow-up (or won deal), the day its owner got it, and the day
  it became a CRM customer. A won deal is the later of ``crm_customer.last_won_at`` and
  the latest won opportunity's ``closed_at``: the opportunities are the record, so the
  rule holds whether or not the profile's date was kept. The owner is told
  ``notice_days`` before; a customer is never taken back sooner than ``notice_days``
  after its owner was told (a job that ran late, or rules made stricter, first warn). A
  follow-up or a win after the warning moves the date, and the warning is given again
  when the new date comes near. Only customers CRM holds a profile for are taken back.
- **Claim**: a member with ``crm.pool.claim`` takes a customer of the pool they can see
  while they own fewer than ``claim_limit`` customers (0 stops claiming). Claims are
  serialised per claimer by an advisory lock and per customer by its row lock: two
  people claiming one customer, one wins and the other is told it is gone; one person
  claiming two at once never passes the limit. The limit is the claim's: a manager's
  transfer may give a salesperson more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.context import TenantContext
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_
from core.orm import uuid7
from core.parties.models import Party
from core.permissions import Actor, visible
from core.records.models import Activity
from core.records.timeline import cancel_activity
from modules.crm import permissions as codes
from modules.crm.models import Customer, FollowUp, Opportunity, PoolSettings
from modules.crm.schemas.customers import ClaimOut, CustomerOut, PoolSettingsIn
from modules.crm.services.customers import (
    IS_CUSTOMER,
    POOL_RESOURCE,
    change_owner,
    display_name,
    is_customer,
    locked_customer,
    notify,
    owned_count,
    read_customer,
)
from modules.crm.services.profiles import ensure_customer

NOTE_MAX = 500
DAYS_MAX, LIMIT_MAX = 3650, 100_000
RELEASED, NO_FOLLOW_UP, NO_DEAL = "released", "no_follow_up", "no_deal"
#: Why a customer is in the pool, as the pages say it (msgids).
REASONS = {
    RELEASED: N_("Released"),
    NO_FOLLOW_UP: N_("No follow-up in time"),
    NO_DEAL: N_("No deal won in time"),
}
RELEASED_BY = N_("{author} put {customer} back in the public pool: {reason}")
NOTICES = {
    NO_FOLLOW_UP: N_(
        "{customer} goes back to the public pool on {day}: no follow-up for {days} days."
    ),
    NO_DEAL: N_("{customer} goes back to the public pool on {day}: no deal won for {days} days."),
}
TAKEN_BACK = {
    NO_FOLLOW_UP: N_("{customer} went back to the public pool: no follow-up for {days} days."),
    NO_DEAL: N_("{customer} went back to the public pool: no deal won for {days} days."),
}


# --- the rules -------------------------------------------------------------------------------


async def pool_settings(session: AsyncSession) -> PoolSettings:
    """The workspace's rules; the defaults when CRM's setup has not written them yet."""
    await session.execute(
        insert(PoolSettings)
        .values(tenant_id=session.info["tenant_id"], id=uuid7())
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    found = await session.scalar(select(PoolSettings))
    assert found is not None  # just inserted, or already there
    return found


def _days(value: int | None, name: str, *, optional: bool = True, least: int = 1) -> int | None:
    if value is None and optional:
        return None
    if value is None or not least <= value <= DAYS_MAX:
        raise ValidationFailed(
            "Enter a whole number of days from {least} to {most}.",
            least=least,
            most=DAYS_MAX,
            field=name,
        )
    return value


async def update_pool_settings(
    session: AsyncSession, actor: Actor, data: PoolSettingsIn
) -> PoolSettings:
    actor.require(codes.SETTINGS_MANAGE)
    values = {
        "no_follow_up_days": _days(data.no_follow_up_days, "no_follow_up_days"),
        "no_deal_days": _days(data.no_deal_days, "no_deal_days"),
        "notice_days": _days(data.notice_days, "notice_days", optional=False, least=0),
    }
    if not 0 <= data.claim_limit <= LIMIT_MAX:
        raise ValidationFailed(
            "Enter how many customers one person may own, from 0 to {most}.",
            most=LIMIT_MAX,
            field="claim_limit",
        )
    values["claim_limit"] = data.claim_limit
    rules = await pool_settings(session)
    before = {name: getattr(rules, name) for name in values}
    for name, value in values.items():
        setattr(rules, name, value)
    if before != values:
        await audit.record(
            session,
            "crm.pool_settings.changed",
            actor_id=actor.user_id,
            subject_type="crm.pool_settings",
            subject_id=rules.id,
            detail={"before": before, "after": values},
        )
    await session.flush()
    return rules


# --- release and claim -----------------------------------------------------------------------


async def _open_reminders(session: AsyncSession, party_id: uuid.UUID) -> list[uuid.UUID]:
    found = await session.scalars(
        select(Activity.id)
        .join(
            FollowUp,
            (FollowUp.tenant_id == Activity.tenant_id) & (FollowUp.next_activity_id == Activity.id),
        )
        .where(FollowUp.party_id == party_id, Activity.done_at.is_(None))
    )
    return list(found)


async def _to_pool(
    session: AsyncSession,
    party: Party,
    profile: Customer,
    reason: str,
    note: str,
    author_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """Put the locked customer in the pool: nobody owns it or its contacts, its department
    stays, and the follow-up reminders its owner had are dropped."""
    await change_owner(session, party, None, party.department_id, author_id)
    profile.in_pool, profile.pooled_at, profile.pool_reason, profile.pool_note = (
        True,
        now,
        reason,
        note,
    )
    profile.owned_since, profile.pool_notice_at = None, None
    for activity_id in await _open_reminders(session, party.id):
        await cancel_activity(session, activity_id)
    await session.flush()


async def release(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, reason: str
) -> CustomerOut:
    """Put a customer the actor may change back in the pool, saying why."""
    actor.require(codes.CUSTOMER_WRITE)
    party = await locked_customer(session, actor, party_id)
    note = reason.strip()
    if not note or len(note) > NOTE_MAX:
        raise ValidationFailed(
            "Say why it goes back to the pool, in 1 to {max} characters.",
            max=NOTE_MAX,
            field="reason",
        )
    if party.owner_id is None:
        raise Conflict("{name} is in the public pool already.", name=party.name)
    previous = party.owner_id
    profile = await ensure_customer(session, party_id)
    await _to_pool(session, party, profile, RELEASED, note, actor.user_id, datetime.now(UTC))
    if previous != actor.user_id:
        params = {
            "author": await display_name(session, actor.user_id),
            "customer": party.name,
            "reason": note,
        }
        notify(session, previous, "crm.customer_released", party_id, RELEASED_BY, params)
        await session.flush()
    return await read_customer(session, party_id)


async def _lock_claimer(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialise one member's claims (held to the end of the transaction), so two at once
    count each other's customers."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('crm.pool.claim:' || :who))"),
        {"who": f"{session.info['tenant_id']}:{user_id}"},
    )


async def claim(session: AsyncSession, actor: Actor, party_id: uuid.UUID) -> ClaimOut:
    """Take a customer of the pool the actor can see, within the claim limit."""
    actor.require(codes.POOL_CLAIM)
    await _lock_claimer(session, actor.user_id)
    party = await session.scalar(
        select(Party)
        .where(Party.id == party_id, visible(actor, POOL_RESOURCE, Party))
        .with_for_update()
    )
    if party is None or not await is_customer(session, party):
        raise NotFound("No customer {id} in the public pool.", id=str(party_id))
    if party.owner_id is not None:  # claimed a moment ago, or never in the pool
        raise Conflict("This customer is no longer in the public pool.")
    rules = await pool_settings(session)
    owned = await owned_count(session, actor.user_id)
    if owned >= rules.claim_limit:
        raise Conflict(
            "You own {owned} customers and one person may own at most {limit}: "
            "release one before claiming another.",
            owned=owned,
            limit=rules.claim_limit,
        )
    await change_owner(session, party, actor.user_id, actor.department_id, actor.user_id)
    profile = await ensure_customer(session, party_id)
    profile.in_pool, profile.pooled_at, profile.pool_reason, profile.pool_note = False, None, "", ""
    profile.owned_since = datetime.now(UTC)
    profile.pool_notice_at = None
    await session.flush()
    return ClaimOut(
        customer=await read_customer(session, party_id),
        owned=owned + 1,
        claim_limit=rules.claim_limit,
    )


# --- taking back -----------------------------------------------------------------------------


@dataclass
class TakeBack:
    """What one run of the take-back did: whom it warned, what it took back (party ids)."""

    noticed: list[uuid.UUID] = field(default_factory=list)
    released: list[uuid.UUID] = field(default_factory=list)


def _latest_win() -> ColumnElement[Any]:
    return (
        select(func.max(Opportunity.closed_at))
        .where(
            Opportunity.tenant_id == Party.tenant_id,
            Opportunity.party_id == Party.id,
            Opportunity.status == "won",
        )
        .correlate(Party)
        .scalar_subquery()
    )


def _due_dates(rules: PoolSettings) -> dict[str, ColumnElement[Any]]:
    """Each rule that is on, with when it takes an owned customer back."""
    got = (Customer.owned_since, Customer.created_at)
    due: dict[str, ColumnElement[Any]] = {}
    if rules.no_follow_up_days is not None:
        since = func.greatest(Customer.last_follow_up_at, *got)
        due[NO_FOLLOW_UP] = since + timedelta(days=rules.no_follow_up_days)
    if rules.no_deal_days is not None:
        since = func.greatest(Customer.last_won_at, _latest_win(), *got)
        due[NO_DEAL] = since + timedelta(days=rules.no_deal_days)
    return due


async def take_back(session: AsyncSession, now: datetime) -> TakeBack:
    """Warn the owners of customers coming due and take back those past due (see the
    module's docstring). Idempotent: a second run at the same time does nothing more; a
    customer being changed right now (its row locked) waits for the next run."""
    if now.tzinfo is None:
        raise ValueError("take_back needs an aware datetime")
    rules = await pool_settings(session)
    due = _due_dates(rules)
    done = TakeBack()
    if not due:
        return done
    notice = timedelta(days=rules.notice_days)
    days = {NO_FOLLOW_UP: rules.no_follow_up_days, NO_DEAL: rules.no_deal_days}
    rows = await session.execute(
        select(Party, Customer, *(when.label(rule) for rule, when in due.items()))
        .join(Customer, (Customer.tenant_id == Party.tenant_id) & (Customer.party_id == Party.id))
        .where(
            Party.owner_id.is_not(None),
            Party.merged_into_id.is_(None),
            Party.active.is_(True),
            IS_CUSTOMER,
            func.least(*due.values()) <= now + notice,
        )
        .order_by(Party.id)
        .with_for_update(of=Party, skip_locked=True)
    )
    for row in rows.all():
        party, profile = row[0], row[1]
        due_at, rule = min((row._mapping[rule], rule) for rule in due)
        warned = profile.pool_notice_at
        if warned is not None and warned < due_at - notice:
            warned = None  # a warning about an earlier date, since moved by a follow-up
        back_on = max(due_at, (warned or now) + notice)
        params: dict[str, Any] = {"customer": party.name, "days": days[rule]}
        owner = party.owner_id
        assert owner is not None  # owned customers only
        if now >= back_on:
            await _to_pool(session, party, profile, rule, "", None, now)
            notify(session, owner, "crm.customer_taken_back", party.id, TAKEN_BACK[rule], params)
            done.released.append(party.id)
        elif warned is None:
            profile.pool_notice_at = now
            params["day"] = back_on.date().isoformat()
            notify(session, owner, "crm.pool_notice", party.id, NOTICES[rule], params)
            done.noticed.append(party.id)
    await session.flush()
    return done


async def take_back_job(session: AsyncSession, ctx: TenantContext) -> None:
    """The scheduled job: the rules as of now."""
    await take_back(session, datetime.now(UTC))
