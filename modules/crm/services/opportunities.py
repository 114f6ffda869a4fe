"""Opportunities (商机): a deal with a customer moving through a pipeline.

Rules:

- An opportunity belongs to one pipeline and sits in one of its stages; its status follows
  the stage's kind. Moving it into a won or lost stage closes it: the status, ``closed_at``
  and the reason (required) are set, :class:`~modules.crm.events.OpportunityClosed` is
  published, and a won deal stamps the customer's ``last_won_at`` (the public pool's
  rules read it). Moving it back into an open stage reopens it (``closed_at`` and the
  reason cleared; the timeline keeps both). Moving it between two stages of the same kind
  changes nothing else.
- A closed opportunity is read-only but for reopening, so a won amount stays what it was.
- With product lines, the amount is their sum (each line ``quantity × unit price``,
  rounded half-up to cents); without lines it is typed. Removing the last line keeps the
  amount as it was, typed again from then on.
- The weighted forecast sums, per expected close month, the amounts of open
  opportunities and those amounts times their stage's probability, within the member's
  data scope (the unweighted sum beside it).
- Every read and list goes through the member's ``crm.opportunity`` scope; a new
  opportunity is for a customer in the member's ``crm.customer`` scope. Moves and closes
  lock the row (``FOR UPDATE``), so a deal is closed once however many people drop it on
  "Won" at the same moment: one event, one stamp.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from msgspec import UnsetType
from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    case,
    cast,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core import numbering
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import publish
from core.i18n import N_, gettext
from core.models import Membership, User
from core.parties.models import Party
from core.permissions import Actor, visible
from core.products.currency import base_currency
from core.products.models import Product
from core.records.timeline import Money, track_changes
from modules.crm import permissions as codes
from modules.crm.access import scoped_customer, scoped_get
from modules.crm.events import OpportunityClosed
from modules.crm.models import Customer, Opportunity, OpportunityLine, Pipeline, Stage
from modules.crm.schemas.sales import (
    OpportunityChanges,
    OpportunityLineIn,
    OpportunityPage,
    OpportunitySummary,
)
from modules.crm.services.pipelines import KIND_LABELS
from modules.crm.services.profiles import ensure_customer

NAME_MAX = 200
REASON_MAX = 500
MAX_PAGE = 200
CARDS_PER_COLUMN = 50
CENT = Decimal("0.01")
RESOURCE = "crm.opportunity"
RECORD = "crm.opportunity"
#: What the timeline tracks on an opportunity, with labels (msgids).
TRACKED = {
    "name": N_("Name"),
    "stage": N_("Stage"),
    "status": N_("Status"),
    "amount": N_("Amount"),
    "expected_close_on": N_("Expected close"),
    "owner": N_("Owner"),
    "close_reason": N_("Reason"),
}


@dataclass(frozen=True, slots=True)
class NewOpportunity:
    name: str
    party_id: uuid.UUID
    amount: Decimal = Decimal("0")
    contact_id: uuid.UUID | None = None
    expected_close_on: date | None = None
    pipeline_id: uuid.UUID | None = None  # None: the default pipeline
    lead_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None  # None: the pipeline's first open stage
    lines: tuple[OpportunityLineIn, ...] = ()


# --- checks shared with quotes ---------------------------------------------------------------


def cents(value: Decimal) -> Decimal:
    """Money rounded the one way CRM rounds: half-up to 0.01."""
    return value.quantize(CENT, ROUND_HALF_UP)


def _places(value: Decimal, places: int) -> bool:
    try:
        return value == value.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:  # too many digits to quantize
        return False


def check_quantity(quantity: Decimal) -> Decimal:
    """A quantity: above 0, below 100,000,000,000,000, at most four decimal places."""
    if not (Decimal(0) < quantity < Decimal("1E14")) or not _places(quantity, 4):
        raise ValidationFailed(
            "A quantity is a number above 0 with at most 4 decimal places.", field="quantity"
        )
    return quantity


def check_money(amount: Decimal, field: str) -> Decimal:
    """An amount of money: from 0, below 10^16, at most two decimal places."""
    if not (Decimal(0) <= amount < Decimal("1E16")) or not _places(amount, 2):
        raise ValidationFailed(
            "An amount is a number from 0 with at most 2 decimal places.", field=field
        )
    return amount


def check_reason(reason: str | None, won: bool) -> str:
    reason = (reason or "").strip()
    if not reason:
        if won:
            raise ValidationFailed("Say why the opportunity was won.", field="reason")
        raise ValidationFailed("Say why the opportunity was lost.", field="reason")
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            "A reason has at most {max} characters.", max=REASON_MAX, field="reason"
        )
    return reason


async def products_by_id(session: AsyncSession, product_ids: list[uuid.UUID]) -> dict:
    """The products named, by id; an unknown or archived one is refused beside the product."""
    found = {
        product.id: product
        for product in await session.scalars(select(Product).where(Product.id.in_(product_ids)))
    }
    for product_id in product_ids:
        product = found.get(product_id)
        if product is None:
            raise NotFound("No product {id}.", id=str(product_id), field="product_id")
        if not product.active:
            raise ValidationFailed(
                "The product {name} is archived: choose another.",
                name=product.name,
                field="product_id",
            )
    return found


async def check_contact(
    session: AsyncSession, party_id: uuid.UUID, contact_id: uuid.UUID | None
) -> uuid.UUID | None:
    """A contact is a person who works at the customer."""
    if contact_id is None:
        return None
    works_there = await session.scalar(
        select(Party.id).where(
            Party.id == contact_id, Party.kind == "person", Party.company_id == party_id
        )
    )
    if works_there is None:
        raise ValidationFailed("Choose a contact who works at this customer.", field="contact_id")
    return contact_id


async def display_names(session: AsyncSession, user_ids: set[uuid.UUID | None]) -> dict:
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return dict(rows.all())


# --- creating and reading --------------------------------------------------------------------


async def _open_stage(
    session: AsyncSession, pipeline_id: uuid.UUID | None, stage_id: uuid.UUID | None
) -> Stage:
    """The stage a new opportunity starts in: the one named (an open stage of the
    pipeline), else the pipeline's first open stage; the default pipeline when none is
    named. An archived pipeline takes no new opportunities."""
    query = (
        select(Stage)
        .join(
            Pipeline, (Pipeline.id == Stage.pipeline_id) & (Pipeline.tenant_id == Stage.tenant_id)
        )
        .where(Pipeline.active, Stage.kind == "open")
        .order_by(Stage.sequence)
        .limit(1)
    )
    if pipeline_id is None:
        query = query.where(Pipeline.is_default)
    else:
        query = query.where(Pipeline.id == pipeline_id)
    if stage_id is not None:
        query = query.where(Stage.id == stage_id)
    stage = await session.scalar(query)
    if stage is None:
        if stage_id is not None:
            raise ValidationFailed("Choose an open stage of the pipeline.", field="stage_id")
        raise ValidationFailed("Choose a pipeline that has an open stage.", field="pipeline_id")
    return stage


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(
            "An opportunity's name has 1 to {max} characters.", max=NAME_MAX, field="name"
        )
    return name


async def _built_lines(
    session: AsyncSession, lines: tuple[OpportunityLineIn, ...] | list[OpportunityLineIn]
) -> list[OpportunityLine]:
    products = await products_by_id(session, [line.product_id for line in lines])
    built = []
    for sequence, line in enumerate(lines, start=1):
        product = products[line.product_id]
        price = product.sale_price if line.unit_price is None else line.unit_price
        built.append(
            OpportunityLine(
                sequence=sequence,
                product_id=product.id,
                quantity=check_quantity(line.quantity),
                unit_price=check_money(price, "unit_price"),
            )
        )
    return built


def line_amount(line: OpportunityLine) -> Decimal:
    return cents(line.quantity * line.unit_price)


async def create_opportunity(
    session: AsyncSession, actor: Actor, new: NewOpportunity
) -> Opportunity:
    """A new opportunity, owned by ``actor``, in the base currency, for a customer the
    actor may see; with lines, its amount is theirs."""
    actor.require(codes.OPPORTUNITY_WRITE)
    name = _check_name(new.name)
    amount = check_money(new.amount, "amount")
    await scoped_customer(session, actor, new.party_id)
    contact_id = await check_contact(session, new.party_id, new.contact_id)
    stage = await _open_stage(session, new.pipeline_id, new.stage_id)
    lines = await _built_lines(session, new.lines)
    if lines:
        amount = sum((line_amount(line) for line in lines), Decimal(0))
    opportunity = Opportunity(
        number=await numbering.next_number(session, "crm.opportunity"),
        name=name,
        party_id=new.party_id,
        contact_id=contact_id,
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        amount=check_money(amount, "amount"),
        currency=await base_currency(session),
        expected_close_on=new.expected_close_on,
        lead_id=new.lead_id,
        owner_id=actor.user_id,
        department_id=actor.department_id,
    )
    session.add(opportunity)
    await session.flush()
    for line in lines:
        line.opportunity_id = opportunity.id
        session.add(line)
    await session.flush()
    return opportunity


async def get_opportunity(
    session: AsyncSession, actor: Actor, opportunity_id: uuid.UUID, *, for_update: bool = False
) -> Opportunity:
    """The opportunity, if the actor's scope shows it (else 404)."""
    actor.require(codes.OPPORTUNITY_READ)
    return await scoped_get(
        session,
        actor,
        Opportunity,
        RESOURCE,
        opportunity_id,
        N_("No opportunity {id}."),
        for_update=for_update,
    )


async def lines_of(session: AsyncSession, opportunity_id: uuid.UUID) -> list[OpportunityLine]:
    return list(
        await session.scalars(
            select(OpportunityLine)
            .where(OpportunityLine.opportunity_id == opportunity_id)
            .order_by(OpportunityLine.sequence, OpportunityLine.id)
        )
    )


@dataclass(frozen=True, slots=True)
class ShownLine:
    line: OpportunityLine
    sku: str
    product_name: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OpportunityView:
    """An opportunity with what its page and the API show beside it."""

    opportunity: Opportunity
    stage: Stage
    pipeline: Pipeline
    stages: list[Stage]
    customer_name: str
    contact_name: str | None
    owner_name: str
    lines: list[ShownLine] = field(default_factory=list)


async def view_of(session: AsyncSession, opportunity: Opportunity) -> OpportunityView:
    stage = await session.scalar(select(Stage).where(Stage.id == opportunity.stage_id))
    pipeline = await session.scalar(select(Pipeline).where(Pipeline.id == opportunity.pipeline_id))
    assert stage is not None
    assert pipeline is not None
    stages = list(
        await session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.sequence)
        )
    )
    party_names = dict(
        (
            await session.execute(
                select(Party.id, Party.name).where(
                    Party.id.in_([opportunity.party_id, opportunity.contact_id])
                )
            )
        ).all()
    )
    lines = await lines_of(session, opportunity.id)
    products = {
        p.id: p
        for p in await session.scalars(
            select(Product).where(Product.id.in_([line.product_id for line in lines]))
        )
    }
    owners = await display_names(session, {opportunity.owner_id})
    return OpportunityView(
        opportunity=opportunity,
        stage=stage,
        pipeline=pipeline,
        stages=stages,
        customer_name=party_names.get(opportunity.party_id, ""),
        contact_name=party_names.get(opportunity.contact_id) if opportunity.contact_id else None,
        owner_name=owners.get(opportunity.owner_id, ""),
        lines=[
            ShownLine(
                line,
                products[line.product_id].sku,
                products[line.product_id].name,
                line_amount(line),
            )
            for line in lines
        ],
    )


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpportunityFilters:
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    status: str | None = None
    close_month: date | None = None  # any day of the month
    search: str | None = None


def month_of(text: str) -> date | None:
    """A month typed as ``2026-03`` (or a day in it); blank is none."""
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 7:
            return date.fromisoformat(f"{text}-01")
        return date.fromisoformat(text).replace(day=1)
    except ValueError:
        raise ValidationFailed(
            "{value} is not a month; use the form {example}.",
            value=text,
            example="2026-03",
            field="close_month",
        ) from None


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _filtered(actor: Actor, filters: OpportunityFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [visible(actor, RESOURCE, Opportunity)]
    if filters.pipeline_id:
        where.append(Opportunity.pipeline_id == filters.pipeline_id)
    if filters.stage_id:
        where.append(Opportunity.stage_id == filters.stage_id)
    if filters.owner_id:
        where.append(Opportunity.owner_id == filters.owner_id)
    if filters.status:
        where.append(Opportunity.status == filters.status)
    if filters.close_month:
        first = filters.close_month.replace(day=1)
        where.append(Opportunity.expected_close_on >= first)
        where.append(Opportunity.expected_close_on < _next_month(first))
    if filters.search and filters.search.strip():
        typed = filters.search.strip()
        where.append(
            Opportunity.name.icontains(typed, autoescape=True)
            | (Opportunity.number == typed.upper())
        )
    return where


def _listed_columns() -> Select[Any]:
    return (
        select(
            Opportunity.id,
            Opportunity.number,
            Opportunity.name,
            Opportunity.party_id,
            Party.name.label("customer_name"),
            Opportunity.pipeline_id,
            Opportunity.stage_id,
            Stage.name.label("stage_name"),
            Opportunity.amount,
            Opportunity.currency,
            Opportunity.expected_close_on,
            Opportunity.status,
            Opportunity.owner_id,
            func.coalesce(User.display_name, "").label("owner_name"),
        )
        .join(
            Party, (Party.tenant_id == Opportunity.tenant_id) & (Party.id == Opportunity.party_id)
        )
        .join(
            Stage, (Stage.tenant_id == Opportunity.tenant_id) & (Stage.id == Opportunity.stage_id)
        )
        .outerjoin(User, User.id == Opportunity.owner_id)
    )


async def list_opportunities(
    session: AsyncSession,
    actor: Actor,
    filters: OpportunityFilters,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> OpportunityPage:
    """Newest first, a page at a time: ``cursor`` is the last id of the page before."""
    actor.require(codes.OPPORTUNITY_READ)
    limit = min(max(limit, 1), MAX_PAGE)
    query = _listed_columns().where(*_filtered(actor, filters))
    if cursor:
        try:
            query = query.where(Opportunity.id < uuid.UUID(cursor))
        except ValueError:
            raise ValidationFailed("This page link is no longer valid.") from None
    rows = (await session.execute(query.order_by(Opportunity.id.desc()).limit(limit + 1))).all()
    items = [OpportunitySummary(**row._asdict()) for row in rows[:limit]]
    return OpportunityPage(
        items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None
    )


# --- the board -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    stage: Stage
    cards: list[OpportunitySummary]
    count: int
    total: Decimal

    @property
    def more(self) -> int:
        return self.count - len(self.cards)


@dataclass(frozen=True, slots=True)
class Board:
    pipeline: Pipeline
    columns: list[Column]
    currency: str
    all_stages: list[Stage]  # every stage of the pipeline, shown as a column or not


async def board(
    session: AsyncSession,
    actor: Actor,
    pipeline_id: uuid.UUID | None,
    *,
    only_stages: set[uuid.UUID] | None = None,
) -> Board:
    """One column per stage of the pipeline (the default one when none is named), with the
    actor's cards in it (open ones by expected close, closed ones latest first; at most
    :data:`CARDS_PER_COLUMN`) and the column's count and total. ``only_stages`` fills just
    those columns (what a move re-renders)."""
    actor.require(codes.OPPORTUNITY_READ)
    query = select(Pipeline).where(
        Pipeline.is_default if pipeline_id is None else Pipeline.id == pipeline_id
    )
    pipeline = await session.scalar(query)
    if pipeline is None:
        raise NotFound("No pipeline {id}.", id=str(pipeline_id), field="pipeline")
    stages = list(
        await session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.sequence)
        )
    )
    every_stage = stages
    if only_stages is not None:
        stages = [stage for stage in stages if stage.id in only_stages]
    wanted = [stage.id for stage in stages]
    scope = [visible(actor, RESOURCE, Opportunity), Opportunity.stage_id.in_(wanted)]
    totals = {
        stage_id: (count, total)
        for stage_id, count, total in (
            await session.execute(
                select(Opportunity.stage_id, func.count(), func.sum(Opportunity.amount))
                .where(*scope)
                .group_by(Opportunity.stage_id)
            )
        ).all()
    }
    place = (
        func.row_number()
        .over(
            partition_by=Opportunity.stage_id,
            order_by=(
                case((Opportunity.status == "open", Opportunity.expected_close_on))
                .asc()
                .nulls_last(),
                Opportunity.closed_at.desc().nulls_last(),
                Opportunity.id,
            ),
        )
        .label("place")
    )
    ranked = _listed_columns().add_columns(place).where(*scope).subquery()
    rows = await session.execute(
        select(ranked).where(ranked.c.place <= CARDS_PER_COLUMN).order_by(ranked.c.place)
    )
    cards: dict[uuid.UUID, list[OpportunitySummary]] = defaultdict(list)
    for row in rows:
        values = row._asdict()
        values.pop("place")
        cards[values["stage_id"]].append(OpportunitySummary(**values))
    columns = [
        Column(
            stage,
            cards[stage.id],
            totals.get(stage.id, (0, None))[0],
            totals.get(stage.id, (0, None))[1] or Decimal(0),
        )
        for stage in stages
    ]
    return Board(pipeline, columns, await base_currency(session), every_stage)


# --- changing --------------------------------------------------------------------------------


async def _tracked(session: AsyncSession, opportunity: Opportunity) -> dict[str, Any]:
    stage_name = await session.scalar(select(Stage.name).where(Stage.id == opportunity.stage_id))
    owners = await display_names(session, {opportunity.owner_id})
    return {
        "name": opportunity.name,
        "stage": stage_name,
        "status": gettext(KIND_LABELS[opportunity.status]),  # in the writer's language
        "amount": Money(opportunity.amount, opportunity.currency),
        "expected_close_on": opportunity.expected_close_on,
        "owner": owners.get(opportunity.owner_id),
        "close_reason": opportunity.close_reason or None,
    }


async def _track(
    session: AsyncSession, actor: Actor, opportunity: Opportunity, before: dict[str, Any]
) -> None:
    await session.flush()
    after = await _tracked(session, opportunity)
    await track_changes(session, RECORD, opportunity.id, actor.user_id, before, after, TRACKED)


def _refuse_closed(opportunity: Opportunity) -> None:
    if opportunity.status != "open":
        raise Conflict("The opportunity is closed: reopen it to change it.")


async def _owner(session: AsyncSession, user_id: uuid.UUID) -> Membership:
    membership = await session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.active)
    )
    if membership is None:
        raise ValidationFailed("Choose an active member of the workspace.", field="owner_id")
    return membership


async def update_opportunity(
    session: AsyncSession, actor: Actor, opportunity_id: uuid.UUID, changes: OpportunityChanges
) -> Opportunity:
    """Change an open opportunity; every change is one entry on its timeline."""
    actor.require(codes.OPPORTUNITY_WRITE)
    opportunity = await get_opportunity(session, actor, opportunity_id, for_update=True)
    _refuse_closed(opportunity)
    if not isinstance(changes.version, UnsetType) and changes.version != opportunity.version:
        raise Conflict(
            "Someone else changed this opportunity after you opened it, so nothing was saved:"
            " look at their change, then save yours again.",
            field="version",
            version=opportunity.version,
        )
    before = await _tracked(session, opportunity)
    # One save, one UPDATE (one version): the checks' queries must not flush half of it.
    with session.no_autoflush:
        if not isinstance(changes.name, UnsetType):
            opportunity.name = _check_name(changes.name)
        if not isinstance(changes.contact_id, UnsetType):
            opportunity.contact_id = await check_contact(
                session, opportunity.party_id, changes.contact_id
            )
        if not isinstance(changes.amount, UnsetType):
            amount = check_money(changes.amount, "amount")
            if amount != opportunity.amount and await lines_of(session, opportunity.id):
                raise ValidationFailed(
                    "The amount is the sum of the product lines: change the lines instead.",
                    field="amount",
                )
            opportunity.amount = amount
        if not isinstance(changes.expected_close_on, UnsetType):
            opportunity.expected_close_on = changes.expected_close_on
        if not isinstance(changes.owner_id, UnsetType) and changes.owner_id != opportunity.owner_id:
            membership = await _owner(session, changes.owner_id)
            opportunity.owner_id = membership.user_id
            opportunity.department_id = membership.department_id
    await _track(session, actor, opportunity, before)
    return opportunity


async def _set_lines(
    session: AsyncSession, opportunity: Opportunity, lines: list[OpportunityLine]
) -> None:
    for old in await lines_of(session, opportunity.id):
        await session.delete(old)
    await session.flush()
    for sequence, line in enumerate(lines, start=1):
        line.opportunity_id, line.sequence = opportunity.id, sequence
        session.add(line)
    _sum_lines(opportunity, lines)
    await session.flush()


async def replace_lines(
    session: AsyncSession,
    actor: Actor,
    opportunity_id: uuid.UUID,
    lines: tuple[OpportunityLineIn, ...] | list[OpportunityLineIn],
) -> Opportunity:
    """The open opportunity's product lines become ``lines``, its amount their sum."""
    actor.require(codes.OPPORTUNITY_WRITE)
    opportunity = await get_opportunity(session, actor, opportunity_id, for_update=True)
    _refuse_closed(opportunity)
    before = await _tracked(session, opportunity)
    await _set_lines(session, opportunity, await _built_lines(session, lines))
    await _track(session, actor, opportunity, before)
    return opportunity


def _sum_lines(opportunity: Opportunity, lines: list[OpportunityLine]) -> None:
    if lines:
        total = sum((line_amount(line) for line in lines), Decimal(0))
        opportunity.amount = check_money(total, "quantity")


async def add_line(
    session: AsyncSession, actor: Actor, opportunity_id: uuid.UUID, line: OpportunityLineIn
) -> Opportunity:
    """One more product line at the end (the lines already there are kept as they are)."""
    actor.require(codes.OPPORTUNITY_WRITE)
    opportunity = await get_opportunity(session, actor, opportunity_id, for_update=True)
    _refuse_closed(opportunity)
    before = await _tracked(session, opportunity)
    [added] = await _built_lines(session, [line])
    lines = await lines_of(session, opportunity.id)
    added.opportunity_id = opportunity.id
    added.sequence = max((old.sequence for old in lines), default=0) + 1
    session.add(added)
    _sum_lines(opportunity, [*lines, added])
    await _track(session, actor, opportunity, before)
    return opportunity


async def remove_line(
    session: AsyncSession, actor: Actor, opportunity_id: uuid.UUID, line_id: uuid.UUID
) -> Opportunity:
    """One line less; the amount is the rest's sum (kept as it was when none is left)."""
    actor.require(codes.OPPORTUNITY_WRITE)
    opportunity = await get_opportunity(session, actor, opportunity_id, for_update=True)
    _refuse_closed(opportunity)
    before = await _tracked(session, opportunity)
    lines = await lines_of(session, opportunity.id)
    gone = next((line for line in lines if line.id == line_id), None)
    if gone is None:
        raise NotFound("No line {id} on this opportunity.", id=str(line_id))
    await session.delete(gone)
    _sum_lines(opportunity, [line for line in lines if line.id != line_id])
    await _track(session, actor, opportunity, before)
    return opportunity


@dataclass(frozen=True, slots=True)
class Moved:
    """A move's outcome: the opportunity and the stages it left and entered."""

    opportunity: Opportunity
    left: uuid.UUID
    entered: uuid.UUID


async def _stage_of_pipeline(
    session: AsyncSession, opportunity: Opportunity, stage_id: uuid.UUID
) -> Stage:
    stage = await session.scalar(
        select(Stage).where(Stage.id == stage_id, Stage.pipeline_id == opportunity.pipeline_id)
    )
    if stage is None:
        raise ValidationFailed("Choose a stage of the opportunity's pipeline.", field="stage_id")
    return stage


async def _enter(
    session: AsyncSession,
    actor: Actor,
    opportunity: Opportunity,
    stage: Stage,
    reason: str | None,
) -> Moved:
    """Put the (locked) opportunity into ``stage``, closing or reopening it as the
    stage's kind says."""
    left = opportunity.stage_id
    closing = stage.kind != "open"
    reason_given = check_reason(reason, stage.kind == "won") if closing else ""
    if stage.id == left and (not closing or reason_given == opportunity.close_reason):
        return Moved(opportunity, left, stage.id)  # dropped where it was
    before = await _tracked(session, opportunity)
    was = opportunity.status
    opportunity.stage_id = stage.id
    opportunity.status = stage.kind
    if not closing:
        opportunity.closed_at, opportunity.close_reason = None, ""
    else:
        opportunity.close_reason = reason_given
        if was != stage.kind:
            now = datetime.now(UTC)
            opportunity.closed_at = now
            await _closed(session, opportunity, now)
    await _track(session, actor, opportunity, before)
    return Moved(opportunity, left, stage.id)


async def _closed(session: AsyncSession, opportunity: Opportunity, now: datetime) -> None:
    """What closing does once: the event, and a won deal's stamp on the customer."""
    won = opportunity.status == "won"
    if won:
        customer = await ensure_customer(session, opportunity.party_id)
        await session.execute(
            update(Customer).where(Customer.id == customer.id).values(last_won_at=now)
        )
    await publish(
        session,
        OpportunityClosed(
            opportunity_id=opportunity.id,
            customer_id=opportunity.party_id,
            won=won,
            amount=opportunity.amount,
            currency=opportunity.currency,
            reason=opportunity.close_reason,
            owner_id=opportunity.owner_id,
        ),
    )


async def move_opportunity(
    session: AsyncSession,
    actor: Actor,
    opportunity_id: uuid.UUID,
    stage_id: uuid.UUID,
    reason: str | None = None,
) -> Moved:
    """Into another stage of its pipeline: a won or lost stage closes it (with ``reason``),
    an open one reopens a closed deal."""
    actor.require(codes.OPPORTUNITY_WRITE)
    opportunity = await get_opportunity(session, actor, opportunity_id, for_update=True)
    stage = await _stage_of_pipeline(session, opportunity, stage_id)
    return await _enter(session, actor, opportunity, stage, reason)


async def close_opportunity(
    session: AsyncSession, actor: Actor, opportunity_id: uuid.UUID, *, won: bool, reason: str
) -> Moved:
    """Win or lose an open opportunity: into its pipeline's first won (or lost) stage."""
    actor.require(codes.OPPORTUNITY_WRITE)
    opportunity = await get_opportunity(session, actor, opportunity_id, for_update=True)
    if opportunity.status != "open":
        raise Conflict("The opportunity is already closed: reopen it first.")
    kind = "won" if won else "lost"
    stage = await session.scalar(
        select(Stage)
        .where(Stage.pipeline_id == opportunity.pipeline_id, Stage.kind == kind)
        .order_by(Stage.sequence)
        .limit(1)
    )
    assert stage is not None  # every pipeline keeps a stage of each kind (services.pipelines)
    return await _enter(session, actor, opportunity, stage, reason)


async def reopen_opportunity(
    session: AsyncSession,
    actor: Actor,
    opportunity_id: uuid.UUID,
    stage_id: uuid.UUID | None = None,
) -> Moved:
    """A closed opportunity back to an open stage: the one named, else the pipeline's last
    open stage (where a deal usually was just before it closed)."""
    actor.require(codes.OPPORTUNITY_WRITE)
    opportunity = await get_opportunity(session, actor, opportunity_id, for_update=True)
    if opportunity.status == "open":
        raise Conflict("The opportunity is open already.")
    if stage_id is not None:
        stage = await _stage_of_pipeline(session, opportunity, stage_id)
        if stage.kind != "open":
            raise ValidationFailed("Choose an open stage to reopen it in.", field="stage_id")
    else:
        last_open = await session.scalar(
            select(Stage)
            .where(Stage.pipeline_id == opportunity.pipeline_id, Stage.kind == "open")
            .order_by(Stage.sequence.desc())
            .limit(1)
        )
        assert last_open is not None  # every pipeline keeps an open stage
        stage = last_open
    return await _enter(session, actor, opportunity, stage, None)


# --- the forecast ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForecastRow:
    month: date | None  # the month's first day; None: no expected close date
    count: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True, slots=True)
class WeightedForecast:
    currency: str
    months: list[ForecastRow]

    @property
    def amount(self) -> Decimal:
        return sum((row.amount for row in self.months), Decimal(0))

    @property
    def weighted(self) -> Decimal:
        return sum((row.weighted for row in self.months), Decimal(0))


async def forecast(
    session: AsyncSession,
    actor: Actor,
    pipeline_id: uuid.UUID | None = None,
    *,
    narrowed: Sequence[ColumnElement[bool]] = (),
) -> WeightedForecast:
    """Open opportunities in the actor's scope by expected close month (months in order,
    those without a date last): their count, amount and weighted amount (each month's sum
    of amount × probability / 100, rounded half-up to cents once). ``narrowed`` adds
    conditions on the opportunities (the reports' team, person and report scope)."""
    actor.require(codes.OPPORTUNITY_READ)
    month = cast(func.date_trunc("month", Opportunity.expected_close_on), Date).label("month")
    query = (
        select(
            month,
            func.count(),
            func.sum(Opportunity.amount),
            func.sum(Opportunity.amount * Stage.probability / literal_column("100")),
        )
        .join(
            Stage, (Stage.tenant_id == Opportunity.tenant_id) & (Stage.id == Opportunity.stage_id)
        )
        .where(Opportunity.status == "open", visible(actor, RESOURCE, Opportunity), *narrowed)
        .group_by(month)
        .order_by(month.asc().nulls_last())
    )
    if pipeline_id is not None:
        query = query.where(Opportunity.pipeline_id == pipeline_id)
    rows = [
        ForecastRow(
            month=first,
            count=count,
            amount=amount,
            weighted=cents(weighted),
        )
        for first, count, amount, weighted in (await session.execute(query)).all()
    ]
    return WeightedForecast(await base_currency(session), rows)
