"""CRM's demo data (the manifest's ``demo_data``): a sales team at work on core's demo
company, in the workspace's language (:mod:`.demo_content`).

What it adds, with core's demo salespeople as the owners of their customers' records:

- a CRM profile (level, source, industry, lifecycle stage) for each demo customer;
- five leads: new, contacted, qualified, disqualified with its reason, and one converted
  into a new customer with its contact and an opportunity;
- follow-ups with the next one planned (a reminder for the owner);
- eleven opportunities over the default pipeline's open stages, with lines of the demo
  products and expected close dates in the coming months; two won, one lost with why;
- quotes: one accepted, one sent and revised (revision 2 sent, with a discount), one draft;
- two contracts, approved and signed: one from the accepted quote, one written directly,
  with payment plans; the first installment of each paid, one installment overdue;
- three tickets: one past its SLA due time, one waiting, one resolved;
- this month's target for each salesperson;
- one customer released to the public pool after its deal was lost.

Everything goes through CRM's services (their checks, scopes, numbering, timelines and
events) as the member who would do it: the salespeople their own customers' work, the
workspace's first owner what needs an owner (deciding the contracts' approval under core's
rule, recording payments, setting targets). The few times a service stamps "now" on
something a demo shows as older (a ticket's opening, so one is overdue) are moved after it.
A customer, salesperson or product the workspace no longer has is left out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import approvals, roles
from core.context import TenantContext
from core.i18n import use_locale
from core.models import ApprovalRequest
from core.parties.models import Party, PartyTag, PartyTagging
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.products.models import Product
from modules.crm.models import Contract, Opportunity, Quote, Stage
from modules.crm.schemas.contracts import ContractIn, PaymentIn, TicketIn
from modules.crm.schemas.customers import CustomerChanges, FollowUpIn
from modules.crm.schemas.leads import ConvertIn, LeadChanges, LeadIn
from modules.crm.schemas.sales import OpportunityLineIn, QuoteIn, QuoteLineIn
from modules.crm.services import (
    contracts,
    customers,
    followups,
    lead_conversion,
    leads,
    opportunities,
    payments,
    pipelines,
    pool,
    quotes,
    targets,
    tickets,
)
from modules.crm.services.demo_content import CONTENT, EN, CrmDemo, DealPlan
from tenants.demo import DEMO_TAG, demo_people, first_owner


@dataclass
class Floor:
    """Who and what the demo works with: core's demo company as the workspace has it."""

    ctx: TenantContext
    registry: ModuleRegistry
    people: dict[str, Actor]  # core's demo members, by login
    boss: Actor  # the workspace's first owner
    parties: dict[str, Party]  # the demo parties, by name
    products: dict[str, Product]  # by SKU
    today: date
    now: datetime

    def seller_of(self, customer: str) -> tuple[Party, Actor] | None:
        """The customer and the salesperson who owns it, if both are still there."""
        party = self.parties.get(customer)
        if party is None:
            return None
        owner = next((a for a in self.people.values() if a.user_id == party.owner_id), None)
        return (party, owner) if owner is not None else None

    def contact(self, name: str | None, party: Party) -> uuid.UUID | None:
        found = self.parties.get(name) if name else None
        return found.id if found is not None and found.company_id == party.id else None


async def demo_data(session: AsyncSession, ctx: TenantContext, registry: ModuleRegistry) -> None:
    plan = CONTENT.get(ctx.locale, EN)
    with use_locale(ctx.locale):  # what the services write for people reads in its language
        floor = await _floor(session, ctx, registry)
        if floor is None:
            return
        await _profiles(session, floor, plan)
        await _leads(session, floor, plan)
        for deal in plan.deals:
            await _deal(session, floor, plan, deal)
        await _follow_ups(session, floor, plan)
        await _tickets(session, floor, plan)
        await _targets(session, floor, plan)
        if found := floor.seller_of(plan.pool_customer):
            party, seller = found
            await pool.release(session, seller, party.id, plan.pool_reason)


# --- who and what ----------------------------------------------------------------------------


async def _floor(
    session: AsyncSession, ctx: TenantContext, registry: ModuleRegistry
) -> Floor | None:
    boss = await first_owner(session)
    if boss is None:
        return None
    people_by_login = await demo_people(session, registry, ctx.slug)
    tagged = await session.scalars(
        select(Party)
        .join(
            PartyTagging,
            (PartyTagging.tenant_id == Party.tenant_id) & (PartyTagging.party_id == Party.id),
        )
        .join(
            PartyTag,
            (PartyTag.tenant_id == PartyTagging.tenant_id) & (PartyTag.id == PartyTagging.tag_id),
        )
        .where(PartyTag.name == DEMO_TAG, Party.active.is_(True), Party.merged_into_id.is_(None))
        .order_by(Party.id)
    )
    parties: dict[str, Party] = {}
    for party in tagged:
        parties.setdefault(party.name, party)  # the demo's own, before any later namesake
    found = await session.scalars(select(Product).where(Product.active.is_(True)))
    now = datetime.now(UTC)
    return Floor(
        ctx=ctx,
        registry=registry,
        people=people_by_login,
        boss=await roles.member_actor(session, registry, boss),
        parties=parties,
        products={product.sku: product for product in found},
        today=contracts.today(),
        now=now,
    )


# --- customers and leads ---------------------------------------------------------------------


async def _profiles(session: AsyncSession, floor: Floor, plan: CrmDemo) -> None:
    for customer in plan.customers:
        if found := floor.seller_of(customer.name):
            party, seller = found
            await customers.update_customer(
                session,
                seller,
                party.id,
                CustomerChanges(
                    lifecycle_stage=customer.stage,
                    level=customer.level,
                    source=customer.source,
                    industry=customer.industry,
                ),
            )


async def _leads(session: AsyncSession, floor: Floor, plan: CrmDemo) -> None:
    for lead in plan.leads:
        seller = floor.people.get(lead.owner)
        if seller is None:
            continue
        made = await leads.create_lead(
            session,
            seller,
            LeadIn(
                name=lead.name,
                company_name=lead.company,
                title=lead.title,
                email=lead.email,
                phone=lead.phone,
                source=lead.source,
                region=lead.region,
                owner_id=seller.user_id,
                allow_duplicates=True,  # the workspace's own data may hold a namesake
            ),
        )
        if lead.status in ("contacted", "qualified"):
            await leads.update_lead(session, seller, made.id, LeadChanges(status=lead.status))
        elif lead.status == "disqualified":
            await leads.disqualify(session, seller, made.id, lead.reason)
        elif lead.status == "converted":
            converted = await lead_conversion.convert(
                session,
                seller,
                made.id,
                ConvertIn(
                    create_opportunity=True,
                    opportunity_name=lead.deal,
                    amount=Decimal(lead.deal_amount),
                    expected_close_on=floor.today + timedelta(days=lead.deal_close_in),
                    allow_duplicates=True,
                ),
            )
            # Tagged like core's demo parties, so the demo's customers are found together.
            await customers.update_customer(
                session,
                seller,
                converted.customer_id,
                CustomerChanges(tags=(DEMO_TAG,), level=lead.level, industry=lead.industry),
            )


async def _follow_ups(session: AsyncSession, floor: Floor, plan: CrmDemo) -> None:
    for follow_up in plan.follow_ups:
        if found := floor.seller_of(follow_up.customer):
            party, seller = found
            next_on = None
            if follow_up.next_in is not None:
                next_on = floor.today + timedelta(days=follow_up.next_in)
            await followups.record_follow_up(
                session,
                seller,
                party.id,
                FollowUpIn(
                    kind=follow_up.kind,
                    content=follow_up.content,
                    happened_at=floor.now - timedelta(days=follow_up.days_ago),
                    contact_id=floor.contact(follow_up.contact, party),
                    next_on=next_on,
                ),
            )


# --- opportunities, quotes and contracts -----------------------------------------------------


async def _open_stages(session: AsyncSession) -> list[Stage]:
    default = await pipelines.default_pipeline(session)
    if default is None:
        return []
    stages = (await pipelines.stages_of(session, [default.id]))[default.id]
    return [stage for stage in stages if stage.kind == "open"]


async def _deal(session: AsyncSession, floor: Floor, plan: CrmDemo, deal: DealPlan) -> None:
    """The opportunity and what its ``key`` says comes of it: ``signed`` (a quote accepted,
    its contract signed, then won), ``service`` (won, then a contract written directly),
    ``revised`` (a quote sent and revised), ``draft_quote`` (a draft quote), ``lost``."""
    found = floor.seller_of(deal.customer)
    stages = await _open_stages(session)
    lines = tuple(
        OpportunityLineIn(product_id=floor.products[sku].id, quantity=Decimal(quantity))
        for sku, quantity in deal.lines
        if sku in floor.products
    )
    if found is None or not stages or not lines:
        return
    party, seller = found
    # A deal that closed went through every open stage; an open one sits where it is.
    stage = stages[min(deal.stage, len(stages) - 1)] if isinstance(deal.stage, int) else None
    opportunity = await opportunities.create_opportunity(
        session,
        seller,
        opportunities.NewOpportunity(
            name=deal.name,
            party_id=party.id,
            contact_id=floor.contact(deal.contact, party),
            expected_close_on=floor.today + timedelta(days=deal.close_in),
            stage_id=(stage or stages[-1]).id,
            lines=lines,
        ),
    )
    if deal.key == "signed":
        quote = await _quote(session, seller, opportunity, plan, accepted=True)
        contract = await contracts.create_contract(
            session,
            seller,
            ContractIn(
                title=plan.signed_title,
                quote_id=quote.id,
                starts_on=floor.today,
                ends_on=contracts.add_months(floor.today, 12) - timedelta(days=1),
                terms=plan.terms,
            ),
        )
        # Signed this month (what this month's targets count), a day or two ago.
        signed_on = max(floor.today - timedelta(days=2), floor.today.replace(day=1))
        await _signed(session, floor, plan, seller, contract, signed_on, installments=2)
    elif deal.key == "revised":
        sent = await _quote(session, seller, opportunity, plan)
        revision = await quotes.revise_quote(session, seller, sent.id)
        discounted = [
            QuoteLineIn(
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_percent=Decimal(plan.revision_discount),
                tax_rate_id=line.tax_rate_id,
                description=line.description,
            )
            for line in await quotes.lines_of(session, revision.id)
        ]
        await quotes.replace_lines(session, seller, revision.id, discounted)
        await quotes.mark_sent(session, seller, revision.id)
    elif deal.key == "draft_quote":
        await quotes.create_quote(
            session,
            seller,
            QuoteIn(party_id=party.id, opportunity_id=opportunity.id, notes=plan.quote_notes),
        )
    if deal.stage in ("won", "lost"):
        await opportunities.close_opportunity(
            session, seller, opportunity.id, won=deal.stage == "won", reason=deal.reason
        )
    if deal.key == "service":
        signed_on = floor.today + timedelta(days=deal.close_in)
        contract = await contracts.create_contract(
            session,
            seller,
            ContractIn(
                title=plan.direct_title,
                party_id=party.id,
                amount=opportunity.amount,
                starts_on=signed_on,
                ends_on=contracts.add_months(signed_on, 12) - timedelta(days=1),
                terms=plan.terms,
            ),
        )
        await _signed(session, floor, plan, seller, contract, signed_on, installments=4)


async def _quote(
    session: AsyncSession,
    seller: Actor,
    opportunity: Opportunity,
    plan: CrmDemo,
    *,
    accepted: bool = False,
) -> Quote:
    """A quote of the opportunity's lines, handed to the customer (and accepted)."""
    quote = await quotes.create_quote(
        session,
        seller,
        QuoteIn(
            party_id=opportunity.party_id,
            opportunity_id=opportunity.id,
            notes=plan.quote_notes,
        ),
    )
    await quotes.mark_sent(session, seller, quote.id)
    if accepted:
        await quotes.accept_quote(session, seller, quote.id)
    return quote


async def _signed(
    session: AsyncSession,
    floor: Floor,
    plan: CrmDemo,
    seller: Actor,
    contract: Contract,
    signed_on: date,
    *,
    installments: int,
) -> None:
    """A draft contract planned in monthly installments from a few days after signing,
    approved, signed on ``signed_on``, and its first installment paid when it fell due."""
    first_due = signed_on + timedelta(days=5 if installments > 2 else 0)
    planned = contracts.split_evenly(contract.amount, installments, first_due)
    plan_rows = await contracts.set_payment_plan(session, seller, contract.id, planned)
    if not await _approve(session, floor, plan, seller, contract):
        return  # another module's approval flow decides: the contract waits there
    await contracts.sign_contract(session, seller, contract.id, signed_on)
    if payments.FINANCE in floor.ctx.enabled:
        return  # Finance records this workspace's payments
    first = plan_rows[0]
    await payments.record_payment(
        session,
        floor.ctx,
        floor.boss,
        PaymentIn(
            installment_id=first.id,
            amount=first.amount,
            received_on=first.due_on,
            method="bank_transfer",
            reference=f"{first.due_on:%Y%m%d}-{contract.number}",
        ),
    )


async def _approve(
    session: AsyncSession, floor: Floor, plan: CrmDemo, seller: Actor, contract: Contract
) -> bool:
    """Submit the contract; under core's rule (no approval engine) the first owner
    approves it, and the decision is applied as the decision event would apply it."""
    contract = await contracts.submit_for_approval(
        session, floor.ctx, floor.registry, seller, contract.id
    )
    if contract.status == "pending_approval":
        request = await session.scalar(
            select(ApprovalRequest).where(ApprovalRequest.id == contract.approval_request_id)
        )
        if request is None or request.engine != approvals.CORE_ENGINE:
            return False
        decided = await approvals.decide(
            session,
            request.id,
            approver_id=floor.boss.user_id,
            approve=True,
            comment=plan.approval_comment,
        )
        await contracts.apply_decision(
            session,
            request_id=decided.id,
            subject_id=contract.id,
            approved=True,
            decided_by=decided.decided_by,
            comment=decided.comment,
        )
    return contract.status == "approved"


# --- service, targets ------------------------------------------------------------------------


async def _tickets(session: AsyncSession, floor: Floor, plan: CrmDemo) -> None:
    for ticket in plan.tickets:
        found = floor.seller_of(ticket.customer)
        if found is None:
            continue
        party, seller = found
        made = await tickets.open_ticket(
            session,
            seller,
            TicketIn(
                party_id=party.id,
                subject=ticket.subject,
                description=ticket.description,
                priority=ticket.priority,  # type: ignore[arg-type]
                contact_id=floor.contact(ticket.contact, party),
            ),
        )
        # The customer asked some hours ago: the SLA counts from then, as it would have.
        made.created_at = floor.now - timedelta(hours=ticket.hours_ago)
        made.sla_due_at = tickets.sla_due(made.created_at, made.priority)
        await session.flush()
        if ticket.status == "in_progress":
            await tickets.move_ticket(session, seller, made.id, "start")
        elif ticket.status == "resolved":
            await tickets.move_ticket(session, seller, made.id, "resolve")


async def _targets(session: AsyncSession, floor: Floor, plan: CrmDemo) -> None:
    for login, amount in plan.targets.items():
        if seller := floor.people.get(login):
            await targets.set_target(
                session,
                floor.boss,
                month=floor.today,
                amount=Decimal(amount),
                user_id=seller.user_id,
            )
