"""The CRM reports page, ``/t/{slug}/crm/reports``, and each report's export,
``/t/{slug}/crm/reports/{report}.xlsx`` (or ``.csv``), with the same filters.

The page has one section per report the member may read: a bar chart drawn as inline
SVG (``web.charts``, no chart script) and the table of its figures under it. The table is
declared once per report (:func:`table_of`): the page shows it, the export writes it.
A bad filter (a month that is none, the period backwards, an id not in the lists) shows
the page again with the reason beside its input and what was typed, 422, and no figures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Response, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.errors import NotFound, ValidationFailed
from core.exchange.exports import MEDIA_TYPES, Column, export_rows
from core.i18n import N_, gettext, money, number
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.services import contracts, pipelines, reports
from modules.crm.services.followups import KINDS
from modules.crm.services.opportunities import WeightedForecast
from modules.crm.services.reports import ReportFilters
from modules.crm.views.common import page
from web.charts import Chart, chart
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal
from web.tenancy import requires

TAB = "/crm/reports"
FILTERS = "filters"  # the filter form, as a refusal names it
#: What each report counts, said under its title (msgids).
NOTES = {
    "funnel": N_(
        "Opportunities created in the period, by how far they got: a deal has passed every "
        "stage before the one it is in; a lost deal counts in the first stage only."
    ),
    "win-rate": N_("Opportunities won or lost in the period: won ÷ (won + lost)."),
    "sales": N_(
        "Contracts signed in the period and not terminated, in the base currency, by the "
        "month they were signed."
    ),
    "forecast": N_(
        "Open opportunities now, by the month they are expected to close: the amount, and "
        "the amount weighted by each stage's win probability. The period does not apply."
    ),
    "collection": N_(
        "Installments due in each month of signed contracts, against the payments received "
        "that month."
    ),
    "activity": N_("Follow-ups in the period, by who followed up and how."),
    "customers": N_(
        "Customers now, by lifecycle stage and by source; new ones were added in the period."
    ),
    "tickets": N_(
        "Tickets opened in the period: resolved within their SLA, resolved late, and those "
        "still open past their due time."
    ),
}


# --- the tables ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """A column of a report's table: ``kind`` says how the page formats it (text, count,
    money, percent); the export writes the value as it is."""

    key: str
    label: str  # a msgid (a month's label is the month itself)
    kind: str = "count"

    @property
    def heading(self) -> str:
        """The label in the reader's language (a template's ``_()`` would %-format it)."""
        return gettext(self.label)


@dataclass(frozen=True, slots=True)
class Table:
    fields: tuple[Field, ...]
    rows: tuple[dict[str, Any], ...]  # by field key; "total": True on a total row
    currency: str = ""

    def columns(self) -> list[Column[dict[str, Any]]]:
        return [Column(f.key, f.label, itemgetter(f.key)) for f in self.fields]


def _person(name: str) -> str:
    return name or gettext("Unassigned")


def _month_label(month: Any) -> str:
    return month.strftime("%Y-%m") if month else gettext("No close date")


def _funnel_table(found: reports.Funnel) -> Table:
    rows = [
        {
            "stage": step.name,
            "count": step.count,
            "amount": step.amount,
            "reached": step.reached,
            "conversion": step.conversion,
        }
        for step in found.steps
    ]
    rows.append(
        {
            "stage": gettext("Lost"),
            "count": found.lost,
            "amount": found.lost_amount,
            "reached": None,
            "conversion": None,
        }
    )
    fields = (
        Field("stage", N_("Stage"), "text"),
        Field("count", N_("There now")),
        Field("amount", N_("Amount"), "money"),
        Field("reached", N_("Reached")),
        Field("conversion", N_("Conversion rate"), "percent"),
    )
    return Table(fields, tuple(rows), found.currency)


def _win_rate_table(found: reports.WinRate) -> Table:
    def row(line: reports.WinRateRow, name: str, total: bool = False) -> dict[str, Any]:
        return {
            "person": name,
            "won": line.won,
            "lost": line.lost,
            "won_amount": line.won_amount,
            "rate": line.rate,
            "total": total,
        }

    rows = [row(line, _person(line.name)) for line in found.rows]
    rows.append(row(found.total, gettext("Total"), True))
    fields = (
        Field("person", N_("Salesperson"), "text"),
        Field("won", N_("Won")),
        Field("lost", N_("Lost")),
        Field("won_amount", N_("Won amount"), "money"),
        Field("rate", N_("Win rate"), "percent"),
    )
    return Table(fields, tuple(rows), found.currency)


def _sales_table(found: reports.Sales) -> Table:
    months = [m.strftime("%Y-%m") for m in found.months]

    def row(name: str, amounts: Sequence[Any], count: int, total: Any, last: bool = False) -> dict:
        by_month = dict(zip(months, amounts, strict=True))
        return {"person": name, **by_month, "count": count, "sum": total, "total": last}

    rows = [row(_person(r.name), r.months, r.count, r.total) for r in found.rows]
    rows.append(row(gettext("Total"), found.month_totals, found.count, found.total, True))
    fields = (
        Field("person", N_("Salesperson"), "text"),
        *(Field(month, month, "money") for month in months),
        Field("count", N_("Contracts")),
        Field("sum", N_("Total"), "money"),
    )
    return Table(fields, tuple(rows), found.currency)


def _forecast_table(found: WeightedForecast) -> Table:
    rows = [
        {
            "month": _month_label(m.month),
            "count": m.count,
            "amount": m.amount,
            "weighted": m.weighted,
        }
        for m in found.months
    ]
    rows.append(
        {
            "month": gettext("Total"),
            "count": sum(m.count for m in found.months),
            "amount": found.amount,
            "weighted": found.weighted,
            "total": True,
        }
    )
    fields = (
        Field("month", N_("Month"), "text"),
        Field("count", N_("Opportunities")),
        Field("amount", N_("Amount"), "money"),
        Field("weighted", N_("Weighted"), "money"),
    )
    return Table(fields, tuple(rows), found.currency)


def _collection_table(found: reports.Collection) -> Table:
    rows = [
        {
            "month": _month_label(m.month),
            "planned": m.planned,
            "received": m.received,
            "rate": m.rate,
        }
        for m in found.months
    ]
    rows.append(
        {
            "month": gettext("Total"),
            "planned": found.planned,
            "received": found.received,
            "rate": found.rate,
            "total": True,
        }
    )
    fields = (
        Field("month", N_("Month"), "text"),
        Field("planned", N_("Planned"), "money"),
        Field("received", N_("Received"), "money"),
        Field("rate", N_("Collection rate"), "percent"),
    )
    return Table(fields, tuple(rows), found.currency)


def _activity_table(found: reports.Activity) -> Table:
    def row(name: str, counts: Sequence[int], total: int, last: bool = False) -> dict:
        by_kind = dict(zip(found.kinds, counts, strict=True))
        return {"person": name, **by_kind, "sum": total, "total": last}

    rows = [row(_person(r.name), r.counts, r.total) for r in found.rows]
    rows.append(row(gettext("Total"), found.kind_totals, found.total, True))
    fields = (
        Field("person", N_("Salesperson"), "text"),
        *(Field(kind, KINDS[kind]) for kind in found.kinds),
        Field("sum", N_("Total")),
    )
    return Table(fields, tuple(rows))


def _customers_table(found: reports.Customers) -> Table:
    rows = [
        {"by": gettext(group), "name": gettext(c.label), "customers": c.customers, "new": c.new}
        for group, counts in ((N_("Lifecycle stage"), found.stages), (N_("Source"), found.sources))
        for c in counts
    ]
    rows.append(
        {
            "by": gettext("Total"),
            "name": "",
            "customers": found.total,
            "new": found.new,
            "total": True,
        }
    )
    fields = (
        Field("by", N_("By"), "text"),
        Field("name", N_("Name"), "text"),
        Field("customers", N_("Customers")),
        Field("new", N_("New in the period")),
    )
    return Table(fields, tuple(rows))


def _tickets_table(found: reports.TicketSla) -> Table:
    def row(line: reports.TicketSlaRow, total: bool = False) -> dict[str, Any]:
        return {
            "priority": gettext(line.label),
            "opened": line.opened,
            "met": line.met,
            "resolved_late": line.resolved_late,
            "overdue": line.overdue,
            "waiting": line.waiting,
            "rate": line.rate,
            "total": total,
        }

    fields = (
        Field("priority", N_("Priority"), "text"),
        Field("opened", N_("Opened")),
        Field("met", N_("Within SLA")),
        Field("resolved_late", N_("Resolved late")),
        Field("overdue", N_("Open and overdue")),
        Field("waiting", N_("Open, not yet due")),
        Field("rate", N_("SLA attainment"), "percent"),
    )
    return Table(fields, (*(row(line) for line in found.rows), row(found.total, True)))


TABLES = {
    "funnel": _funnel_table,
    "win-rate": _win_rate_table,
    "sales": _sales_table,
    "forecast": _forecast_table,
    "collection": _collection_table,
    "activity": _activity_table,
    "customers": _customers_table,
    "tickets": _tickets_table,
}


def table_of(key: str, figures: Any) -> Table:
    """The report's table, in the reader's language: what the page shows and the export
    writes (the last row is the total)."""
    return TABLES[key](figures)


# --- the charts ------------------------------------------------------------------------------


def _percent(value: Decimal | None) -> str:
    return "–" if value is None else f"{number(value)} %"


def _reached(step: reports.FunnelStep) -> str:
    """How many got this far, and their share of the previous step's."""
    if step.conversion is None:
        return number(step.reached)
    return f"{number(step.reached)} · {_percent(step.conversion)}"


def charts_of(key: str, figures: Any, title: str) -> Chart:
    """The report's chart; ``title`` (translated) names it for screen readers."""
    if key == "funnel":
        return chart(
            title,
            [
                (
                    s.name,
                    [("a", s.reached, _reached(s))],
                )
                for s in figures.steps
            ],
        )
    if key == "win-rate":
        return chart(
            title,
            [(_person(r.name), [("a", r.rate or 0, _percent(r.rate))]) for r in figures.rows],
        )
    if key == "sales":
        return chart(
            title,
            [
                (m.strftime("%Y-%m"), [("a", total, money(total, figures.currency))])
                for m, total in zip(figures.months, figures.month_totals, strict=True)
            ],
        )
    if key == "forecast":
        return chart(
            title,
            [
                (
                    _month_label(m.month),
                    [
                        ("b", m.amount, money(m.amount, figures.currency)),
                        ("a", m.weighted, money(m.weighted, figures.currency)),
                    ],
                )
                for m in figures.months
            ],
            (("b", gettext("Amount")), ("a", gettext("Weighted"))),
        )
    if key == "collection":
        return chart(
            title,
            [
                (
                    m.month.strftime("%Y-%m"),
                    [
                        ("b", m.planned, money(m.planned, figures.currency)),
                        ("a", m.received, money(m.received, figures.currency)),
                    ],
                )
                for m in figures.months
            ],
            (("b", gettext("Planned")), ("a", gettext("Received"))),
        )
    if key == "activity":
        return chart(
            title,
            [(_person(r.name), [("a", r.total, number(r.total))]) for r in figures.rows],
        )
    if key == "customers":
        return chart(
            title,
            [(gettext(c.label), [("a", c.customers, number(c.customers))]) for c in figures.stages],
        )
    return chart(
        title,
        [
            (
                gettext(r.label),
                [
                    ("a", r.met, number(r.met)),
                    ("b", r.resolved_late + r.overdue, number(r.resolved_late + r.overdue)),
                ],
            )
            for r in figures.rows
        ],
        (("a", gettext("Within SLA")), ("b", gettext("Breached"))),
    )


# --- the page --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    report: reports.Report
    note: str  # a msgid
    chart: Chart
    table: Table
    exports: dict[str, str]  # format → address


async def _choices(session: AsyncSession) -> dict[str, Any]:
    return {
        "teams": [
            (str(node.department.id), node.depth, node.department.name)
            for node in await organisation.departments(session)
        ],
        "people": [(str(uid), name) for uid, name in await reports.members(session)],
        "pipelines": [(str(p.id), p.name) for p in await pipelines.pipelines(session)],
    }


async def _filters(session: AsyncSession, typed: dict[str, str]) -> ReportFilters:
    return await reports.read_filters(
        session,
        start=typed["from"],
        end=typed["to"],
        team=typed["team"],
        person=typed["person"],
        pipeline=typed["pipeline"],
        today=contracts.today(),
    )


async def _sections(
    session: AsyncSession, tenant_slug: str, actor: Actor, filters: ReportFilters
) -> list[Section]:
    query = urlencode(filters.query())
    shown = []
    for report in reports.reports_for(actor):
        figures = await report.figures(session, actor, filters)
        shown.append(
            Section(
                report,
                NOTES[report.key],
                charts_of(report.key, figures, gettext(report.title)),
                table_of(report.key, figures),
                {
                    kind: f"/t/{tenant_slug}{TAB}/{report.key}.{kind}?{query}"
                    for kind in ("xlsx", "csv")
                },
            )
        )
    return shown


StartMonth = Annotated[str, QueryParameter(name="from")]
EndMonth = Annotated[str, QueryParameter(name="to")]


def _typed(start: str, end: str, team: str, person: str, pipeline: str) -> dict[str, str]:
    return {"from": start, "to": end, "team": team, "person": person, "pipeline": pipeline}


@get(TAB, guards=[requires(codes.REPORT_READ)])
async def reports_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    start: StartMonth = "",
    end: EndMonth = "",
    team: FromQuery[str] = "",
    person: FromQuery[str] = "",
    pipeline: FromQuery[str] = "",
) -> Template:
    typed = _typed(start, end, team, person, pipeline)
    refusal: Refusal | None = None
    sections: list[Section] = []
    try:
        filters = await _filters(session, typed)
    except ValidationFailed as error:
        refusal = Refusal.of(FILTERS, typed, error)
    else:
        typed = {**typed, "from": filters.query()["from"], "to": filters.query()["to"]}
        sections = await _sections(session, tenant.slug, actor, filters)
    return page(
        "crm/reports.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=typed,
        refusal=refusal,
        sections=sections,
        **await _choices(session),
    )


async def _each(rows: Sequence[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        yield row


@get(f"{TAB}/{{file_name:str}}", guards=[requires(codes.REPORT_READ)])
async def export_report(
    session: DbSession,
    actor: CurrentActor,
    file_name: FromPath[str],
    start: StartMonth = "",
    end: EndMonth = "",
    team: FromQuery[str] = "",
    person: FromQuery[str] = "",
    pipeline: FromQuery[str] = "",
) -> Response[bytes]:
    """``funnel.xlsx``, ``sales.csv``, …: the report's table with the page's filters."""
    key, _, file_format = file_name.rpartition(".")
    report = reports.REPORTS.get(key)
    if report is None or file_format not in MEDIA_TYPES:
        raise NotFound("No report {name}.", name=file_name)
    filters = await _filters(session, _typed(start, end, team, person, pipeline))
    table = table_of(key, await report.figures(session, actor, filters))
    content = await export_rows(
        table.columns(), _each(table.rows), file_format, title=gettext(report.title)
    )
    period = f"{filters.query()['from']}_{filters.query()['to']}"
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={"content-disposition": f'attachment; filename="crm-{key}-{period}.{file_format}"'},
    )


PAGES = [reports_page, export_report]
