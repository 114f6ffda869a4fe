"""The public pool over the services: releasing with a reason, the pool list, claiming
within the limit (exactly one of two claimers wins; one claimer never passes the limit),
the take-back job run with fixed times (a warning first, then the release; a follow-up or
a won deal moves the date), the rules' settings, and two workspaces."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core import roles
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEntry
from core.parties.models import Party
from core.permissions import Actor
from core.records.models import Notification
from modules.crm.models import Customer, Opportunity
from modules.crm.schemas.customers import ContactIn, FollowUpIn, PoolSettingsIn
from modules.crm.services import contacts, customers, followups, pool
from modules.crm.services.customers import CustomerFilters
from modules.crm.services.opportunities import NewOpportunity, create_opportunity
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_customers import new_customer

DAY = timedelta(days=1)


async def set_rules(floor: SalesFloor, **rules) -> None:
    admin = await floor.member(f"Rules {uuid.uuid4().hex[:4]}", role=roles.ADMIN)
    values = {"no_follow_up_days": 30, "no_deal_days": None, "notice_days": 3, "claim_limit": 50}
    async with floor.session() as session:
        await pool.update_pool_settings(session, admin, PoolSettingsIn(**{**values, **rules}))


async def pooled(floor: SalesFloor, actor: Actor) -> list[str]:
    async with floor.session() as session:
        page = await customers.list_customers(session, actor, pool=True)
        return [c.name for c in page.items]


async def release(floor: SalesFloor, actor: Actor, party_id: uuid.UUID, reason: str) -> None:
    async with floor.session() as session:
        await pool.release(session, actor, party_id, reason)


async def claim(floor: SalesFloor, actor: Actor, party_id: uuid.UUID):
    async with floor.session() as session:
        return await pool.claim(session, actor, party_id)


async def notices(floor: SalesFloor) -> list[tuple[str, str]]:
    async with floor.session() as session:
        rows = await session.scalars(select(Notification).order_by(Notification.id))
        return [(n.kind, n.message.format(**n.params)) for n in rows]


async def age(floor: SalesFloor, party_id: uuid.UUID, since: datetime) -> None:
    """Make the customer's profile as old as ``since`` (when it was made and owned)."""
    async with floor.session() as session:
        await session.execute(
            update(Customer)
            .where(Customer.party_id == party_id)
            .values(created_at=since, owned_since=since)
        )


async def take_back(floor: SalesFloor, now: datetime) -> pool.TakeBack:
    async with floor.session() as session:
        return await pool.take_back(session, now)


async def test_the_owner_releases_with_a_reason_and_anyone_in_sales_sees_it_in_the_pool(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    made = await new_customer(floor, wei, "Ningbo Tools")
    async with floor.session() as session:
        contact = await contacts.create_contact(session, wei, made, ContactIn(name="Zhou Min"))
    assert await pooled(floor, li) == []
    with pytest.raises(NotFound):
        await release(floor, li, made, "Not mine")  # outside Li's scope
    with pytest.raises(ValidationFailed) as refused:
        await release(floor, wei, made, " ")
    assert refused.value.params["field"] == "reason"
    await release(floor, wei, made, "Moved abroad, no longer buying")

    assert await pooled(floor, li) == ["Ningbo Tools"]
    async with floor.session() as session:
        for filters, found in (
            (CustomerFilters(search="ningbo"), 1),
            (CustomerFilters(level="A"), 0),
        ):
            listed = await customers.list_customers(session, li, filters, pool=True)
            assert len(listed.items) == found
    assert await pooled(floor, wei) == ["Ningbo Tools"]
    async with floor.session() as session:
        shown = (await customers.list_customers(session, li, pool=True)).items[0]
        assert (shown.owner_id, shown.in_pool, shown.pool_reason, shown.pool_note) == (
            None,
            True,
            "released",
            "Moved abroad, no longer buying",
        )
        person = await session.get(Party, (floor.tenant_id, contact.id))
        assert person is not None
        assert person.owner_id is None
        assert await customers.list_customers(session, wei) == customers.CustomerPage(
            items=[], next_cursor=None
        )
    assert await notices(floor) == []  # the owner let it go: nobody to tell
    admin = await floor.member("Admin", role=roles.ADMIN)
    with pytest.raises(Conflict):
        await release(floor, admin, made, "Again")

    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    assert await pooled(other_floor, stranger) == []
    with pytest.raises(NotFound):
        await claim(other_floor, stranger, made)


async def test_a_manager_releases_a_salespersons_customer_and_they_are_told(
    floor: SalesFloor,
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei", department=sales)
    boss = await floor.manager("Boss", sales)
    made = await new_customer(floor, wei, "Wuxi Looms")
    await release(floor, boss, made, "No answer for months")
    assert await notices(floor) == [
        (
            "crm.customer_released",
            "Boss put Wuxi Looms back in the public pool: No answer for months",
        )
    ]


async def test_claiming_takes_ownership_within_the_limit(floor: SalesFloor) -> None:
    east = await floor.department("East")
    wei, li = await floor.member("Wei"), await floor.member("Li", department=east)
    first = await new_customer(floor, wei, "First Co")
    second = await new_customer(floor, wei, "Second Co")
    await new_customer(floor, li, "Li's own")
    for made in (first, second):
        await release(floor, wei, made, "Handing over")
    await set_rules(floor, claim_limit=2)

    claimed = await claim(floor, li, first)
    assert (claimed.customer.owner_id, claimed.customer.department_id) == (li.user_id, east)
    assert (claimed.customer.in_pool, claimed.owned, claimed.claim_limit) == (False, 2, 2)
    with pytest.raises(Conflict) as refused:
        await claim(floor, li, second)
    assert refused.value.params == {"owned": 2, "limit": 2}
    with pytest.raises(Conflict):
        await claim(floor, wei, first)  # Li has it now
    with pytest.raises(NotFound):
        await claim(floor, wei, uuid.uuid4())
    await set_rules(floor, claim_limit=0)
    with pytest.raises(Conflict):
        await claim(floor, wei, second)  # a limit of 0 stops claiming
    plain = await floor.member(
        "Looker", custom=["crm.pool.read"], custom_scopes={"crm.pool": "all"}
    )
    looker = Actor(
        tenant_id=plain.tenant_id,
        user_id=plain.user_id,
        membership_id=plain.membership_id,
        permissions=frozenset({"crm.pool.read"}),
        scopes=plain.scopes,
    )
    with pytest.raises(PermissionDenied):
        await claim(floor, looker, second)


async def test_two_people_claiming_one_customer_at_once_exactly_one_wins(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    rivals = [await floor.member(f"Rival {n}") for n in range(4)]
    made = await new_customer(floor, wei, "Contested Ltd")
    await release(floor, wei, made, "Up for grabs")

    answers = await asyncio.gather(
        *(claim(floor, rival, made) for rival in rivals), return_exceptions=True
    )
    won = [a for a in answers if not isinstance(a, BaseException)]
    lost = [a for a in answers if isinstance(a, BaseException)]
    assert len(won) == 1
    assert all(isinstance(a, Conflict) for a in lost), lost
    async with floor.session() as session:
        party = await session.get(Party, (floor.tenant_id, made))
        assert party is not None
        assert party.owner_id == won[0].customer.owner_id


async def test_one_person_claiming_several_at_once_never_passes_the_limit(
    floor: SalesFloor,
) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    await new_customer(floor, li, "Li already has this")
    made = [await new_customer(floor, wei, f"Pooled {n}") for n in range(5)]
    for party_id in made:
        await release(floor, wei, party_id, "Pooling")
    await set_rules(floor, claim_limit=3)

    answers = await asyncio.gather(
        *(claim(floor, li, party_id) for party_id in made), return_exceptions=True
    )
    assert sum(not isinstance(a, BaseException) for a in answers) == 2
    assert all(isinstance(a, Conflict) for a in answers if isinstance(a, BaseException))
    async with floor.session() as session:
        assert await customers.owned_count(session, li.user_id) == 3


async def test_the_take_back_warns_first_then_releases_on_the_day(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    await set_rules(floor, no_follow_up_days=30, no_deal_days=None, notice_days=3)
    wei = await floor.member("Wei")
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    made = await new_customer(floor, wei, "Quiet Co")
    await age(floor, made, start)
    elsewhere = await new_customer(other_floor, await other_floor.member("Ma"), "Bolt's own")
    await age(other_floor, elsewhere, start)

    assert await take_back(floor, start + 26 * DAY) == pool.TakeBack()  # not near yet
    warned = await take_back(floor, start + 27 * DAY)
    assert warned == pool.TakeBack(noticed=[made])
    assert await notices(floor) == [
        (
            "crm.pool_notice",
            "Quiet Co goes back to the public pool on 2026-03-31: no follow-up for 30 days.",
        )
    ]
    assert await take_back(floor, start + 28 * DAY) == pool.TakeBack()  # told once
    assert await take_back(floor, start + 30 * DAY) == pool.TakeBack(released=[made])
    assert await take_back(floor, start + 31 * DAY) == pool.TakeBack()
    assert (await notices(floor))[-1] == (
        "crm.customer_taken_back",
        "Quiet Co went back to the public pool: no follow-up for 30 days.",
    )
    async with floor.session() as session:
        shown = await customers.read_customer(session, made)
        assert (shown.owner_id, shown.in_pool, shown.pool_reason) == (None, True, "no_follow_up")
    async with other_floor.session() as session:  # the other workspace's job, its own rules
        assert (await customers.read_customer(session, elsewhere)).owner_id is not None


async def test_a_follow_up_after_the_warning_moves_the_date_and_warns_again_later(
    floor: SalesFloor,
) -> None:
    await set_rules(floor, no_follow_up_days=30, notice_days=3)
    wei = await floor.member("Wei")
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    made = await new_customer(floor, wei, "Saved Co")
    await age(floor, made, start)
    assert (await take_back(floor, start + 28 * DAY)).noticed == [made]

    called = start + 29 * DAY
    async with floor.session() as session:
        await followups.record_follow_up(
            session,
            wei,
            made,
            FollowUpIn(kind="call", content="Still interested", happened_at=called),
            now=called,
        )
    assert await take_back(floor, start + 30 * DAY) == pool.TakeBack()
    assert await take_back(floor, called + 27 * DAY) == pool.TakeBack(noticed=[made])
    assert await take_back(floor, called + 30 * DAY) == pool.TakeBack(released=[made])


async def test_a_late_or_stricter_rule_warns_before_it_takes_back(floor: SalesFloor) -> None:
    await set_rules(floor, no_follow_up_days=30, notice_days=3)
    wei = await floor.member("Wei")
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    made = await new_customer(floor, wei, "Overdue Co")
    await age(floor, made, start)
    late = start + 60 * DAY  # past due, never warned
    assert await take_back(floor, late) == pool.TakeBack(noticed=[made])
    assert "on 2026-05-03" in (await notices(floor))[-1][1]  # three days after the warning
    assert await take_back(floor, late + 2 * DAY) == pool.TakeBack()
    assert await take_back(floor, late + 3 * DAY) == pool.TakeBack(released=[made])


async def test_without_notice_days_the_customer_goes_back_on_the_day(floor: SalesFloor) -> None:
    await set_rules(floor, no_follow_up_days=10, notice_days=0)
    wei = await floor.member("Wei")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    made = await new_customer(floor, wei, "Prompt Co")
    await age(floor, made, start)
    assert await take_back(floor, start + 9 * DAY) == pool.TakeBack()
    assert await take_back(floor, start + 10 * DAY) == pool.TakeBack(released=[made])
    assert [kind for kind, _ in await notices(floor)] == ["crm.customer_taken_back"]


async def test_no_deal_won_counts_from_the_latest_won_opportunity(floor: SalesFloor) -> None:
    await set_rules(floor, no_follow_up_days=None, no_deal_days=90, notice_days=5)
    wei = await floor.member("Wei")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = await new_customer(floor, wei, "Dealer Co")
    quiet = await new_customer(floor, wei, "Never Buys Co")
    for party_id in (made, quiet):
        await age(floor, party_id, start)
    async with floor.session() as session:
        big_order = NewOpportunity(name="Big order", party_id=made)
        deal = await create_opportunity(session, wei, big_order)
        await session.execute(
            update(Opportunity)
            .where(Opportunity.id == deal.id)
            .values(status="won", closed_at=start + 60 * DAY)
        )
    now = start + 85 * DAY
    assert await take_back(floor, now) == pool.TakeBack(noticed=[quiet])
    assert await take_back(floor, start + 90 * DAY) == pool.TakeBack(released=[quiet])
    assert await take_back(floor, start + 145 * DAY) == pool.TakeBack(noticed=[made])
    assert "no deal won for 90 days" in (await notices(floor))[-1][1]


async def test_rules_switched_off_take_nothing_back(floor: SalesFloor) -> None:
    await set_rules(floor, no_follow_up_days=None, no_deal_days=None)
    wei = await floor.member("Wei")
    made = await new_customer(floor, wei, "Safe Co")
    await age(floor, made, datetime(2020, 1, 1, tzinfo=UTC))
    assert await take_back(floor, datetime(2026, 1, 1, tzinfo=UTC)) == pool.TakeBack()


async def test_pool_settings_are_checked_audited_and_the_workspaces_own(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    wei = await floor.member("Wei")
    good = {"no_follow_up_days": 15, "no_deal_days": None, "notice_days": 2, "claim_limit": 20}
    async with floor.session() as session:
        saved = await pool.update_pool_settings(session, admin, PoolSettingsIn(**good))
        assert (saved.no_follow_up_days, saved.no_deal_days, saved.claim_limit) == (15, None, 20)
        audited = (await session.scalars(select(AuditEntry.action))).all()
        assert "crm.pool_settings.changed" in audited
    for bad, field in (
        ({"no_follow_up_days": 0}, "no_follow_up_days"),
        ({"no_deal_days": 4000}, "no_deal_days"),
        ({"notice_days": -1}, "notice_days"),
        ({"claim_limit": -5}, "claim_limit"),
    ):
        async with floor.session() as session:
            with pytest.raises(ValidationFailed) as refused:
                await pool.update_pool_settings(session, admin, PoolSettingsIn(**{**good, **bad}))
            assert refused.value.params["field"] == field
    async with floor.session() as session:
        with pytest.raises(PermissionDenied):
            await pool.update_pool_settings(session, wei, PoolSettingsIn(**good))
    async with other_floor.session() as session:
        theirs = await pool.pool_settings(session)
        assert (theirs.no_follow_up_days, theirs.claim_limit) == (30, 50)


async def test_the_job_runs_for_the_workspace(floor: SalesFloor) -> None:
    await set_rules(floor, no_follow_up_days=1, notice_days=0)
    wei = await floor.member("Wei")
    made = await new_customer(floor, wei, "Ancient Co")
    await age(floor, made, datetime(2020, 1, 1, tzinfo=UTC))
    async with floor.session() as session:
        await pool.take_back_job(session, floor.ctx)
    async with floor.session() as session:
        assert (await customers.read_customer(session, made)).in_pool


async def test_a_manager_gives_a_customer_of_the_pool_to_a_salesperson(floor: SalesFloor) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    admin = await floor.member("Admin", role=roles.ADMIN)
    made = await new_customer(floor, wei, "Assigned Co")
    await release(floor, wei, made, "Leaving the region")
    async with floor.session() as session:
        given = await customers.transfer_customer(session, admin, made, li.user_id)
        assert (given.owner_id, given.in_pool, given.pool_reason) == (li.user_id, False, "")
    assert await pooled(floor, li) == []
