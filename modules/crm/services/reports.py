"""CRM reports (报表): the figures behind the reports page, its exports and the JSON API.

Every figure is summed in SQL (``GROUP BY``) over one table and answered as frozen
dataclasses, money in ``Decimal`` (the base currency). The rules:

- **Rights and scopes.** Each report needs ``crm.report.read`` and the read right of the
  records it counts, and counts only the records both scopes show: the actor's
  ``crm.report`` scope and their scope on the underlying resource (opportunities,
  contracts, payments, customers and follow-ups, tickets). A salesperson's report is
  their own records, a manager's their department's, an admin's everyone's.
- **Filters** narrow, never widen: the period (whole months, UTC, from ``from`` to
  ``to``), a team (a department and every department below it: the records' department,
  the one data scopes read) and a person (the records' owner).
- **Which records a report counts** is written beside each function below.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.errors import NotFound, ValidationFailed
from core.i18n import N_
from core.models import Membership, User
from core.parties.models import Party
from core.permissions import Actor, visible
from core.products.currency import base_currency
from modules.crm import permissions as codes
from modules.crm.models import (
    Contract,
    Customer,
    FollowUp,
    Installment,
    Opportunity,
    Payment,
    Pipeline,
    Stage,
    Ticket,
)
from modules.crm.models.customers import FOLLOW_UP_KINDS, LIFECYCLE_STAGES
from modules.crm.services import opportunities
from modules.crm.services.contracts import add_months
from modules.crm.services.customers import IS_CUSTOMER, LIVE, SOURCES, STAGES
from modules.crm.services.opportunities import cents, display_names, month_of
from modules.crm.services.targets import COUNTED, FIRST_YEAR, LAST_YEAR, percent_of
from modules.crm.services.tickets import PRIORITY_LABELS, WORKING

REPORT = "crm.report"
MONTHS_MAX = 36
#: Ticket priorities as the report lists them: the most urgent first.
PRIORITY_ORDER = ("urgent", "high", "normal", "low")


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """What every report is narrowed to. ``first`` and ``last`` are the first days of the
    period's first and last months; ``departments`` is the team with the departments
    below it (empty: any)."""

    first: date
    last: date
    team_id: uuid.UUID | None = None
    departments: tuple[uuid.UUID, ...] = ()
    person_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = None

    @property
    def end(self) -> date:
        """The day after the period."""
        return add_months(self.last, 1)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time.min, UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end, time.min, UTC)

    @property
    def months(self) -> tuple[date, ...]:
        found, month = [], self.first
        while month <= self.last:
            found.append(month)
            month = add_months(month, 1)
        return tuple(found)

    def query(self) -> dict[str, str]:
        """The filters as the page's and export's query string has them (blank left out)."""
        chosen = {
            "from": self.first.strftime("%Y-%m"),
            "to": self.last.strftime("%Y-%m"),
            "team": str(self.team_id or ""),
            "person": str(self.person_id or ""),
            "pipeline": str(self.pipeline_id or ""),
        }
        return {key: value for key, value in chosen.items() if value}


def _month(field: str, text: str, blank: date) -> date:
    try:
        month = month_of(text)
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **{**error.params, "field": field}) from None
    if month is None:
        return blank
    if not FIRST_YEAR <= month.year <= LAST_YEAR:
        raise ValidationFailed(
            "Choose a year from {first} to {last}.", first=FIRST_YEAR, last=LAST_YEAR, field=field
        )
    return month


def _chosen_id(field: str, text: str) -> uuid.UUID | None:
    if not text.strip():
        return None
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise ValidationFailed("Choose one from the list.", field=field) from None


async def read_filters(
    session: AsyncSession,
    *,
    start: str = "",
    end: str = "",
    team: str = "",
    person: str = "",
    pipeline: str = "",
    today: date,
) -> ReportFilters:
    """The filters as typed (months ``2026-03``, ids from the lists); the period is this
    year up to ``today``'s month unless given. A refusal names its input (``from``, ``to``,
    ``team``, ``person``, ``pipeline``)."""
    first = _month("from", start, today.replace(month=1, day=1))
    last = _month("to", end, today.replace(day=1))
    if last < first:
        raise ValidationFailed("The period ends before it starts.", field="to")
    if (last.year - first.year) * 12 + last.month - first.month >= MONTHS_MAX:
        raise ValidationFailed("A report covers at most {max} months.", max=MONTHS_MAX, field="to")
    team_id = _chosen_id("team", team)
    departments: tuple[uuid.UUID, ...] = ()
    if team_id is not None:
        try:
            departments = tuple(await organisation.subtree_ids(session, team_id))
        except NotFound:
            raise ValidationFailed("No department {id}.", id=str(team_id), field="team") from None
    person_id = _chosen_id("person", person)
    if person_id is not None:
        member = await session.scalar(
            select(Membership.id).where(Membership.user_id == person_id).limit(1)
        )
        if member is None:
            raise ValidationFailed("No member {id}.", id=str(person_id), field="person")
    pipeline_id = _chosen_id("pipeline", pipeline)
    if pipeline_id is not None:
        found = await session.scalar(select(Pipeline.id).where(Pipeline.id == pipeline_id))
        if found is None:
            raise ValidationFailed("No pipeline {id}.", id=str(pipeline_id), field="pipeline")
    return ReportFilters(first, last, team_id, departments, person_id, pipeline_id)


def _narrowing(model: Any, filters: ReportFilters) -> list[ColumnElement[bool]]:
    """The team and person filters on an owned table."""
    where: list[ColumnElement[bool]] = []
    if filters.departments:
        where.append(model.department_id.in_(filters.departments))
    if filters.person_id is not None:
        where.append(model.owner_id == filters.person_id)
    return where


def _seen(
    actor: Actor, resource: str, model: Any, filters: ReportFilters
) -> list[ColumnElement[bool]]:
    """What a report counts of ``model``: within the report scope and the resource's,
    narrowed by the filters."""
    return [
        visible(actor, REPORT, model),
        visible(actor, resource, model),
        *_narrowing(model, filters),
    ]


def _require(actor: Actor, right: str) -> None:
    actor.require(codes.REPORT_READ)
    actor.require(right)


def _month_of(column: Any) -> Any:
    return cast(func.date_trunc("month", column), Date)


def _by_name(names: dict, user_id: uuid.UUID | None) -> tuple[bool, str, str]:
    """People by name; records nobody owns last."""
    return (user_id is None, str(names.get(user_id, "")).casefold(), str(user_id))


# --- (1) the funnel --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """An open stage of the pipeline, or the won step (its won stages together)."""

    stage_id: uuid.UUID | None  # None: the won step
    name: str
    kind: str  # open, won
    count: int  # deals there now
    amount: Decimal
    reached: int  # deals that got this far (there now or beyond)
    conversion: Decimal | None  # percent of the previous step's reached; None: the first


@dataclass(frozen=True, slots=True)
class Funnel:
    pipeline_id: uuid.UUID | None
    pipeline_name: str
    currency: str
    steps: tuple[FunnelStep, ...]
    total: int  # the deals created in the period
    lost: int
    lost_amount: Decimal


async def funnel(session: AsyncSession, actor: Actor, filters: ReportFilters) -> Funnel:
    """The opportunities created in the period in the chosen pipeline (the default one):
    per open stage in order, then won, how many are there now and how many got that far.

    No stage history is kept, so a deal counts as having reached every open stage up to
    the one it is in; a won deal passed every open stage; a lost one counts in the first
    step only (where it was lost is not recorded)."""
    _require(actor, codes.OPPORTUNITY_READ)
    currency = await base_currency(session)
    pipeline = await session.scalar(
        select(Pipeline).where(
            Pipeline.is_default
            if filters.pipeline_id is None
            else Pipeline.id == filters.pipeline_id
        )
    )
    if pipeline is None:
        return Funnel(None, "", currency, (), 0, 0, Decimal(0))
    stages = list(
        await session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.sequence)
        )
    )
    rows = await session.execute(
        select(Opportunity.stage_id, func.count(), func.sum(Opportunity.amount))
        .where(
            Opportunity.pipeline_id == pipeline.id,
            Opportunity.created_at >= filters.since,
            Opportunity.created_at < filters.until,
            *_seen(actor, opportunities.RESOURCE, Opportunity, filters),
        )
        .group_by(Opportunity.stage_id)
    )
    there = {stage_id: (count, Decimal(total)) for stage_id, count, total in rows}

    def now_in(kind: str) -> tuple[int, Decimal]:
        counts = [there.get(s.id, (0, Decimal(0))) for s in stages if s.kind == kind]
        return sum(c for c, _ in counts), sum((a for _, a in counts), Decimal(0))

    won, won_amount = now_in("won")
    lost, lost_amount = now_in("lost")
    open_stages = [s for s in stages if s.kind == "open"]
    reached, beyond = [], won  # walking back from the last open stage
    for stage in reversed(open_stages):
        beyond += there.get(stage.id, (0, Decimal(0)))[0]
        reached.append(beyond)
    reached.reverse()
    if reached:
        reached[0] += lost  # every deal entered the first stage
    steps: list[FunnelStep] = []
    previous: int | None = None
    for stage, got in zip(open_stages, reached, strict=True):
        count, amount = there.get(stage.id, (0, Decimal(0)))
        steps.append(
            FunnelStep(stage.id, stage.name, "open", count, amount, got, _rate(got, previous))
        )
        previous = got
    won_names = " / ".join(s.name for s in stages if s.kind == "won")
    steps.append(FunnelStep(None, won_names, "won", won, won_amount, won, _rate(won, previous)))
    total = sum(count for count, _ in there.values())
    return Funnel(pipeline.id, pipeline.name, currency, tuple(steps), total, lost, lost_amount)


def _rate(part: int, whole: int | None) -> Decimal | None:
    return None if whole is None else percent_of(Decimal(part), Decimal(whole))


# --- (2) win rate ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WinRateRow:
    person_id: uuid.UUID | None  # None on the total row, and for deals nobody owns
    name: str
    won: int
    lost: int
    won_amount: Decimal
    rate: Decimal | None  # won / (won + lost), percent; None without a closed deal


@dataclass(frozen=True, slots=True)
class WinRate:
    currency: str
    rows: tuple[WinRateRow, ...]
    total: WinRateRow


async def win_rate(session: AsyncSession, actor: Actor, filters: ReportFilters) -> WinRate:
    """Opportunities closed (won or lost) in the period, per owner: won, lost, the won
    amount and the win rate."""
    _require(actor, codes.OPPORTUNITY_READ)
    won = Opportunity.status == "won"
    rows = (
        await session.execute(
            select(
                Opportunity.owner_id,
                func.count().filter(won),
                func.count().filter(Opportunity.status == "lost"),
                func.coalesce(func.sum(Opportunity.amount).filter(won), 0),
            )
            .where(
                Opportunity.status.in_(("won", "lost")),
                Opportunity.closed_at >= filters.since,
                Opportunity.closed_at < filters.until,
                *_seen(actor, opportunities.RESOURCE, Opportunity, filters),
            )
            .group_by(Opportunity.owner_id)
        )
    ).all()
    names = await display_names(session, {row[0] for row in rows})
    people = tuple(
        WinRateRow(owner, names.get(owner, ""), w, lost, Decimal(amount), _rate(w, w + lost))
        for owner, w, lost, amount in sorted(rows, key=lambda row: _by_name(names, row[0]))
    )
    won_total = sum(row.won for row in people)
    lost_total = sum(row.lost for row in people)
    total = WinRateRow(
        None,
        "",
        won_total,
        lost_total,
        sum((row.won_amount for row in people), Decimal(0)),
        _rate(won_total, won_total + lost_total),
    )
    return WinRate(await base_currency(session), people, total)


# --- (3) sales by person and month -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SalesRow:
    person_id: uuid.UUID | None
    name: str
    months: tuple[Decimal, ...]  # one per month of the period
    count: int  # contracts signed
    total: Decimal


@dataclass(frozen=True, slots=True)
class Sales:
    currency: str
    months: tuple[date, ...]
    rows: tuple[SalesRow, ...]
    month_totals: tuple[Decimal, ...]
    count: int
    total: Decimal


async def sales(session: AsyncSession, actor: Actor, filters: ReportFilters) -> Sales:
    """Contracts signed in the period and not terminated since (what targets count), per
    owner and month of signing: their base-currency amounts (the signing day's rate)."""
    _require(actor, codes.CONTRACT_READ)
    month = _month_of(Contract.signed_on)
    rows = await session.execute(
        select(Contract.owner_id, month, func.count(), func.sum(Contract.base_amount))
        .where(
            Contract.status.in_(COUNTED),
            Contract.signed_on >= filters.first,
            Contract.signed_on < filters.end,
            *_seen(actor, "crm.contract", Contract, filters),
        )
        .group_by(Contract.owner_id, month)
    )
    months = filters.months
    amounts: dict[uuid.UUID | None, dict[date, Decimal]] = defaultdict(dict)
    counts: dict[uuid.UUID | None, int] = defaultdict(int)
    for owner, first, count, total in rows:
        amounts[owner][first] = Decimal(total or 0)
        counts[owner] += count
    names = await display_names(session, set(amounts))
    people = tuple(
        SalesRow(
            owner,
            names.get(owner, ""),
            tuple(amounts[owner].get(m, Decimal(0)) for m in months),
            counts[owner],
            sum(amounts[owner].values(), Decimal(0)),
        )
        for owner in sorted(amounts, key=lambda owner: _by_name(names, owner))
    )
    month_totals = tuple(
        sum((row.months[index] for row in people), Decimal(0)) for index in range(len(months))
    )
    return Sales(
        await base_currency(session),
        months,
        people,
        month_totals,
        sum(counts.values()),
        sum(month_totals, Decimal(0)),
    )


# --- (4) the forecast ------------------------------------------------------------------------


async def forecast(
    session: AsyncSession, actor: Actor, filters: ReportFilters
) -> opportunities.WeightedForecast:
    """The opportunities page's weighted forecast (open deals by expected close month),
    narrowed by the report scope, team, person and pipeline. Open deals are counted as
    they are now: the period does not apply."""
    _require(actor, codes.OPPORTUNITY_READ)
    narrowed = [visible(actor, REPORT, Opportunity), *_narrowing(Opportunity, filters)]
    return await opportunities.forecast(session, actor, filters.pipeline_id, narrowed=narrowed)


# --- (5) payment collection against the plan -------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectionMonth:
    month: date
    planned: Decimal  # installments due in the month
    received: Decimal  # payments received in the month
    rate: Decimal | None  # received / planned, percent; None when nothing was due


@dataclass(frozen=True, slots=True)
class Collection:
    currency: str
    months: tuple[CollectionMonth, ...]
    planned: Decimal
    received: Decimal
    rate: Decimal | None


async def collection(session: AsyncSession, actor: Actor, filters: ReportFilters) -> Collection:
    """Per month of the period: the installments due (of contracts signed and not
    terminated) against the payments received (every payment, whatever its contract
    became), in the base currency; a foreign-currency contract counts at its signing
    day's rate (``base_amount / amount``). Scope: ``crm.payment``, on the contract."""
    _require(actor, codes.PAYMENT_READ)
    currency = await base_currency(session)

    def in_base(amount: Any) -> Any:
        return case(
            (Contract.currency == currency, amount),
            else_=amount * Contract.base_amount / func.nullif(Contract.amount, 0),
        )

    of_contract = "crm.payment", Contract, filters
    due_month = _month_of(Installment.due_on)
    planned = dict(
        (
            await session.execute(
                select(due_month, func.sum(in_base(Installment.amount)))
                .join(
                    Contract,
                    (Contract.tenant_id == Installment.tenant_id)
                    & (Contract.id == Installment.contract_id),
                )
                .where(
                    Contract.status.in_(COUNTED),
                    Installment.due_on >= filters.first,
                    Installment.due_on < filters.end,
                    *_seen(actor, *of_contract),
                )
                .group_by(due_month)
            )
        ).all()
    )
    received_month = _month_of(Payment.received_on)
    received = dict(
        (
            await session.execute(
                select(received_month, func.sum(in_base(Payment.amount)))
                .join(
                    Contract,
                    (Contract.tenant_id == Payment.tenant_id)
                    & (Contract.id == Payment.contract_id),
                )
                .where(
                    Payment.received_on >= filters.first,
                    Payment.received_on < filters.end,
                    *_seen(actor, *of_contract),
                )
                .group_by(received_month)
            )
        ).all()
    )
    months = tuple(
        CollectionMonth(
            month,
            cents(Decimal(planned.get(month) or 0)),
            cents(Decimal(received.get(month) or 0)),
            percent_of(Decimal(received.get(month) or 0), Decimal(planned.get(month) or 0)),
        )
        for month in filters.months
    )
    planned_total = sum((m.planned for m in months), Decimal(0))
    received_total = sum((m.received for m in months), Decimal(0))
    return Collection(
        currency, months, planned_total, received_total, percent_of(received_total, planned_total)
    )


# --- (6) follow-up activity ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityRow:
    person_id: uuid.UUID | None
    name: str
    counts: tuple[int, ...]  # one per kind, in the order of Activity.kinds
    total: int


@dataclass(frozen=True, slots=True)
class Activity:
    kinds: tuple[str, ...]  # call, visit, meeting, message, email
    rows: tuple[ActivityRow, ...]
    kind_totals: tuple[int, ...]
    total: int


async def activity(session: AsyncSession, actor: Actor, filters: ReportFilters) -> Activity:
    """Follow-ups that happened in the period, per person who followed up and per kind.
    Scope: ``crm.customer``, on the follow-up (who did it and their department)."""
    _require(actor, codes.CUSTOMER_READ)
    rows = await session.execute(
        select(FollowUp.owner_id, FollowUp.kind, func.count())
        .where(
            FollowUp.happened_at >= filters.since,
            FollowUp.happened_at < filters.until,
            *_seen(actor, "crm.customer", FollowUp, filters),
        )
        .group_by(FollowUp.owner_id, FollowUp.kind)
    )
    kinds = FOLLOW_UP_KINDS
    counted: dict[uuid.UUID | None, dict[str, int]] = defaultdict(dict)
    for owner, kind, count in rows:
        counted[owner][kind] = count
    names = await display_names(session, set(counted))
    people = tuple(
        ActivityRow(
            owner,
            names.get(owner, ""),
            tuple(counted[owner].get(kind, 0) for kind in kinds),
            sum(counted[owner].values()),
        )
        for owner in sorted(counted, key=lambda owner: _by_name(names, owner))
    )
    kind_totals = tuple(sum(row.counts[i] for row in people) for i in range(len(kinds)))
    return Activity(kinds, people, kind_totals, sum(kind_totals))


# --- (7) customers by lifecycle stage and by source ------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerCount:
    key: str  # the stage's or source's code
    label: str  # its label, a msgid (an unknown source's code as it is)
    customers: int  # customers now
    new: int  # of them, those whose party was created in the period


@dataclass(frozen=True, slots=True)
class Customers:
    stages: tuple[CustomerCount, ...]
    sources: tuple[CustomerCount, ...]
    total: int
    new: int


async def customers(session: AsyncSession, actor: Actor, filters: ReportFilters) -> Customers:
    """The customers in scope now (as the customer list counts them: a party marked
    customer or with a CRM profile, not merged or archived) by lifecycle stage and by
    source, and how many of them are new in the period. The team and person are the
    customer's department and owner."""
    _require(actor, codes.CUSTOMER_READ)
    stage = func.coalesce(Customer.lifecycle_stage, "prospect")
    source = func.coalesce(Customer.source, "manual")
    new = (Party.created_at >= filters.since) & (Party.created_at < filters.until)

    async def counted(column: Any) -> dict[str, tuple[int, int]]:
        rows = await session.execute(
            select(column, func.count(), func.count().filter(new))
            .select_from(Party)
            .outerjoin(
                Customer, (Customer.tenant_id == Party.tenant_id) & (Customer.party_id == Party.id)
            )
            .where(LIVE, IS_CUSTOMER, *_seen(actor, "crm.customer", Party, filters))
            .group_by(column)
        )
        return {key: (count, fresh) for key, count, fresh in rows}

    by_stage, by_source = await counted(stage), await counted(source)
    stages = tuple(
        CustomerCount(key, STAGES[key], *by_stage.get(key, (0, 0))) for key in LIFECYCLE_STAGES
    )
    known = tuple(
        CustomerCount(key, label, *by_source.get(key, (0, 0))) for key, label in SOURCES.items()
    )
    unknown = tuple(  # a code another area wrote, shown as it is
        CustomerCount(key, key, *counts)
        for key, counts in sorted(by_source.items())
        if key not in SOURCES
    )
    return Customers(
        stages,
        known + unknown,
        sum(c.customers for c in stages),
        sum(c.new for c in stages),
    )


# --- (8) ticket SLA --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketSlaRow:
    priority: str  # "" on the total row
    label: str  # a msgid
    opened: int  # tickets opened in the period
    met: int  # resolved by their due time
    resolved_late: int  # resolved after it
    overdue: int  # still being worked, past their due time
    waiting: int  # still being worked, not yet due
    rate: Decimal | None  # met / (met + resolved late + overdue), percent


@dataclass(frozen=True, slots=True)
class TicketSla:
    rows: tuple[TicketSlaRow, ...]
    total: TicketSlaRow


_SLA_COUNTS = ("opened", "met", "resolved_late", "overdue", "waiting")


async def ticket_sla(
    session: AsyncSession, actor: Actor, filters: ReportFilters, *, now: datetime | None = None
) -> TicketSla:
    """Tickets opened in the period, per priority: resolved within their SLA, resolved
    late, still open past their due time (``now``) and still open in time. A reopened
    ticket counts by where it is now (reopening clears its resolution)."""
    _require(actor, codes.TICKET_READ)
    moment = now or datetime.now(UTC)
    resolved = Ticket.resolved_at.is_not(None)
    working = Ticket.status.in_(WORKING)
    rows = await session.execute(
        select(
            Ticket.priority,
            func.count(),
            func.count().filter(resolved & (Ticket.resolved_at <= Ticket.sla_due_at)),
            func.count().filter(resolved & (Ticket.resolved_at > Ticket.sla_due_at)),
            func.count().filter(working & (Ticket.sla_due_at < moment)),
            func.count().filter(working & (Ticket.sla_due_at >= moment)),
        )
        .where(
            Ticket.created_at >= filters.since,
            Ticket.created_at < filters.until,
            *_seen(actor, "crm.ticket", Ticket, filters),
        )
        .group_by(Ticket.priority)
    )
    counted = {row[0]: tuple(row[1:]) for row in rows}
    shown = tuple(
        _sla_row(priority, PRIORITY_LABELS[priority], *counted.get(priority, (0, 0, 0, 0, 0)))
        for priority in PRIORITY_ORDER
    )
    sums = [sum(getattr(row, name) for row in shown) for name in _SLA_COUNTS]
    return TicketSla(shown, _sla_row("", N_("Total"), *sums))


def _sla_row(
    priority: str, label: str, opened: int, met: int, late: int, overdue: int, waiting: int
) -> TicketSlaRow:
    return TicketSlaRow(
        priority, label, opened, met, late, overdue, waiting, _rate(met, met + late + overdue)
    )


# --- every report ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    key: str  # as in the addresses: /crm/reports/{key}.xlsx, /api/.../crm/reports/{key}
    title: str  # a msgid
    right: str  # the read right on the records it counts
    figures: Callable[[AsyncSession, Actor, ReportFilters], Awaitable[Any]]


REPORTS: dict[str, Report] = {
    report.key: report
    for report in (
        Report("funnel", N_("Funnel conversion"), codes.OPPORTUNITY_READ, funnel),
        Report("win-rate", N_("Win rate"), codes.OPPORTUNITY_READ, win_rate),
        Report("sales", N_("Sales by person and month"), codes.CONTRACT_READ, sales),
        Report("forecast", N_("Weighted forecast"), codes.OPPORTUNITY_READ, forecast),
        Report("collection", N_("Payment collection against plan"), codes.PAYMENT_READ, collection),
        Report("activity", N_("Follow-up activity"), codes.CUSTOMER_READ, activity),
        Report("customers", N_("Customers by stage and source"), codes.CUSTOMER_READ, customers),
        Report("tickets", N_("Ticket SLA"), codes.TICKET_READ, ticket_sla),
    )
}


def reports_for(actor: Actor) -> list[Report]:
    """The reports ``actor`` may read, in the page's order."""
    if not actor.can(codes.REPORT_READ):
        return []
    return [report for report in REPORTS.values() if actor.can(report.right)]


async def members(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    """Every member of the workspace (those who left too: their figures stay), by name."""
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .order_by(User.display_name, User.id)
    )
    return [(user_id, name) for user_id, name in rows]
