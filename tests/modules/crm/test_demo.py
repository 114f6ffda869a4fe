"""CRM's demo data on a real database: a sales team's believable pipeline over core's demo
company, whose figures add up, in the workspace's language, loaded once."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import roles
from core.context import TenantContext
from core.db import Database
from core.models import ApprovalRequest, Membership, User
from core.parties.models import Party
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.products.currency import base_currency
from core.records.models import Activity
from modules.crm.models import (
    Contract,
    Customer,
    FollowUp,
    Installment,
    Lead,
    Opportunity,
    OpportunityLine,
    Payment,
    Quote,
    Stage,
    Target,
    Ticket,
)
from modules.crm.services import contracts, payments, targets, tickets
from tenants import demo
from tests.modules.crm.conftest import SalesFloor

CHINESE = re.compile(r"[\u4e00-\u9fff]")
MODELS = (
    Customer,
    Lead,
    FollowUp,
    Opportunity,
    OpportunityLine,
    Quote,
    Contract,
    Installment,
    Payment,
    Ticket,
    Target,
)


async def crm_counts(db: Database, ctx: TenantContext) -> dict[str, int]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return {
            model.__tablename__: await session.scalar(select(func.count()).select_from(model)) or 0
            for model in MODELS
        }


async def loaded(db: Database, registry: ModuleRegistry, make_tenant, slug: str, locale: str):
    """A CRM workspace in ``locale`` with the demo loaded."""
    ctx = await make_tenant(slug, "crm", locale=locale, seed=True)
    result = await demo.load_by_slug(db, registry, slug)
    assert result == demo.DemoResult(core=True, modules=["crm"])
    return SalesFloor(db, registry, ctx)


async def test_the_demo_is_a_sales_team_at_work_and_its_figures_add_up(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    floor = await loaded(db, registry, make_tenant, "shop", "zh-CN")
    today = contracts.today()
    async with floor.session() as session:
        demo_people = {
            user.id: user.display_name
            for user in await session.scalars(
                select(User).where(User.email.endswith("@shop.demo.atrium.test"))
            )
        }
        # Customers: a profile for each demo customer and the converted lead's company.
        profiles = (
            await session.execute(
                select(Customer, Party).join(Party, Party.id == Customer.party_id)
            )
        ).all()
        assert len(profiles) == 9
        assert {c.level for c, _p in profiles} == {"A", "B", "C"}
        assert {c.lifecycle_stage for c, _p in profiles} >= {"prospect", "customer", "repeat"}
        assert len({c.source for c, _p in profiles}) >= 5
        assert all(c.industry for c, _p in profiles)
        pooled = [(c, p) for c, p in profiles if c.in_pool]
        assert [p.name for _c, p in pooled] == ["深圳市前海贸易有限公司"]
        assert pooled[0][1].owner_id is None
        assert pooled[0][0].pool_note
        assert all(p.owner_id in demo_people for c, p in profiles if not c.in_pool)

        # Leads in every status, one converted into that customer with its opportunity.
        found_leads = list(await session.scalars(select(Lead)))
        assert Counter(lead.status for lead in found_leads) == dict.fromkeys(
            ("new", "contacted", "qualified", "disqualified", "converted"), 1
        )
        converted = next(lead for lead in found_leads if lead.status == "converted")
        assert converted.customer_party_id is not None
        assert converted.contact_party_id is not None
        assert all(lead.number.startswith("LD-") for lead in found_leads)
        assert next(
            lead for lead in found_leads if lead.status == "disqualified"
        ).disqualified_reason

        # Follow-ups, each planning the next one as a reminder for the customer's owner.
        follow_ups = list(await session.scalars(select(FollowUp)))
        assert len(follow_ups) == 6
        assert all(f.next_on is not None and f.next_on >= today for f in follow_ups)
        reminders = await session.scalar(
            select(func.count()).select_from(Activity).where(Activity.done_at.is_(None))
        )
        assert reminders == 6

        # The board: deals over several stages, two won, one lost with its reason.
        deals = (
            await session.execute(
                select(Opportunity, Stage).join(Stage, Stage.id == Opportunity.stage_id)
            )
        ).all()
        assert len(deals) == 11
        statuses = Counter(o.status for o, _s in deals)
        assert statuses == {"open": 8, "won": 2, "lost": 1}
        assert len({s.id for o, s in deals if o.status == "open"}) >= 3
        assert all(o.close_reason for o, _s in deals if o.status != "open")
        assert all(o.owner_id in demo_people for o, _s in deals)
        open_closes = sorted(o.expected_close_on for o, _s in deals if o.status == "open")
        assert open_closes[0] > today
        assert (open_closes[-1] - today).days >= 60
        lines = list(await session.scalars(select(OpportunityLine)))
        with_lines = {line.opportunity_id for line in lines}
        assert len(with_lines) == 10  # all but the converted lead's, whose amount was typed
        for opportunity, _stage in deals:
            if opportunity.id in with_lines:
                assert opportunity.amount == sum(
                    (
                        (line.quantity * line.unit_price).quantize(Decimal("0.01"))
                        for line in lines
                        if line.opportunity_id == opportunity.id
                    ),
                    Decimal(0),
                )
        assert all(CHINESE.search(o.name) for o, _s in deals)

        # Quotes: one accepted, one sent and revised (revision 2 sent), one draft.
        found_quotes = list(await session.scalars(select(Quote).order_by(Quote.id)))
        assert Counter(q.status for q in found_quotes) == {
            "accepted": 1,
            "superseded": 1,
            "sent": 1,
            "draft": 1,
        }
        revised = [q for q in found_quotes if q.status in ("superseded", "sent")]
        assert {q.number for q in revised} == {revised[0].number}
        assert sorted(q.revision for q in revised) == [1, 2]
        first, second = sorted(revised, key=lambda q: q.revision)
        assert second.discount_total > 0
        assert second.total < first.total
        accepted = next(q for q in found_quotes if q.status == "accepted")

        # Contracts: from the accepted quote (its total) and one direct, both signed after
        # an approval an owner decided; the plans add up and the payments stay within them.
        found_contracts = list(await session.scalars(select(Contract)))
        assert len(found_contracts) == 2
        assert {c.status for c in found_contracts} == {"signed"}
        from_quote = next(c for c in found_contracts if c.quote_id is not None)
        direct = next(c for c in found_contracts if c.quote_id is None)
        assert from_quote.quote_id == accepted.id
        assert from_quote.amount == accepted.total
        assert from_quote.signed_on is not None
        assert from_quote.signed_on.month == today.month
        currency = await base_currency(session)
        assert {c.currency for c in found_contracts} == {currency}
        requests = list(await session.scalars(select(ApprovalRequest)))
        assert len(requests) == 2
        assert {r.status for r in requests} == {"approved"}
        plan = list(await session.scalars(select(Installment)))
        received = list(await session.scalars(select(Payment)))
        for contract in found_contracts:
            mine = [i for i in plan if i.contract_id == contract.id]
            assert sum((i.amount for i in mine), Decimal(0)) == contract.amount
            paid = [p.amount for p in received if p.contract_id == contract.id]
            assert paid
            assert sum(paid, Decimal(0)) == sum((i.paid_amount for i in mine), Decimal(0))
            assert all(i.paid_amount <= i.amount for i in mine)
        boss = await _boss(floor, session)
        overdue = await payments.overdue_installments(session, boss)
        assert [o.contract_id for o in overdue] == [direct.id]
        assert overdue[0].paid_amount == 0
        assert overdue[0].days_late > 0

        # Tickets: one past its due time, one waiting, one resolved.
        found_tickets = list(await session.scalars(select(Ticket)))
        assert Counter(t.status for t in found_tickets) == {
            "in_progress": 1,
            "open": 1,
            "resolved": 1,
        }
        assert [t.priority for t in found_tickets if tickets.is_overdue(t)] == ["high"]

        # This month's targets, and what the contract signed this month attains.
        month = today.replace(day=1)
        set_targets = list(await session.scalars(select(Target)))
        assert len(set_targets) == 2
        assert {t.month for t in set_targets} == {month}
        holders = await targets.year_attainment(session, boss, today.year)
        this_month = {
            holder.name: next(m for m in holder.months if m.month == month) for holder in holders
        }
        assert this_month["李娜"].attained == from_quote.base_amount
        assert this_month["李娜"].target == Decimal("80000.00")
        assert this_month["王强"].target == Decimal("50000.00")

    before = await crm_counts(db, floor.ctx)
    again = await demo.load_by_slug(db, registry, "shop")
    assert again == demo.DemoResult(core=False, modules=[])
    assert await crm_counts(db, floor.ctx) == before


async def _boss(floor: SalesFloor, session: AsyncSession) -> Actor:
    """The workspace's owner as an actor (sees every payment and target)."""
    owner = await session.scalar(
        select(Membership).where(Membership.role == roles.OWNER).order_by(Membership.id).limit(1)
    )
    return await floor.actor(owner.id)


async def test_in_english_the_same_floor_is_named_in_english(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    floor = await loaded(db, registry, make_tenant, "mill", "en")
    async with floor.session() as session:
        names = list(await session.scalars(select(Opportunity.name)))
        assert len(names) == 11
        assert not any(CHINESE.search(name) for name in names)
        assert "Northwind new office floor furniture" in names
        pooled = await session.scalar(
            select(Party.name)
            .join(Customer, Customer.party_id == Party.id)
            .where(Customer.in_pool.is_(True))
        )
        assert pooled == "Maple Street Law LLP"
        stage_names = set(
            await session.scalars(
                select(Stage.name).join(Opportunity, Opportunity.stage_id == Stage.id)
            )
        )
        assert {"Won", "Lost"} <= stage_names
    counts = await crm_counts(db, floor.ctx)
    assert counts["crm_contract"] == 2
    assert counts["crm_payment"] == 2


async def test_a_workspace_that_switches_crm_on_later_gets_the_sales_team_on_the_next_run(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    from tenants.services import enable_module

    ctx = await make_tenant("late", seed=True)
    assert await demo.load_by_slug(db, registry, "late") == demo.DemoResult(core=True, modules=[])
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await enable_module(session, registry, ctx, "crm")
    assert await demo.load_by_slug(db, registry, "late") == demo.DemoResult(
        core=False, modules=["crm"]
    )
    counts = await crm_counts(db, ctx)
    assert counts["crm_opportunity"] == 11
    assert counts["crm_ticket"] == 3
