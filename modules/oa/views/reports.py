"""The OA reports page, ``/t/{slug}/oa/reports``, and each report's export,
``/t/{slug}/oa/reports/{report}.xlsx`` (or ``.csv``), with the same filters.

One section per report: a bar chart (``web.charts``, inline SVG) and the table of its
figures, declared once (:func:`table_of`): the page shows it, the export writes it.
Durations read "2 d 3 h" on the page and are hours (two decimals) in the files, which a
spreadsheet sums. A bad filter shows the page again with the reason beside its input and
what was typed, 422, and no figures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Response, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.context import TenantContext
from core.errors import NotFound, ValidationFailed
from core.exchange.exports import MEDIA_TYPES, Column, export_rows
from core.i18n import N_, gettext, number
from core.plugins.registry import ModuleRegistry
from modules.oa import permissions as codes
from modules.oa.services import engine, flows, reports
from modules.oa.services.reports import ReportFilters
from modules.oa.views.common import page
from web.charts import Chart, chart
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import Refusal
from web.tenancy import requires

TAB = "/oa/reports"
FILTERS = "filters"  # the filter form, as a refusal names it
HOUR = Decimal(3600)
CENTS = Decimal("0.01")


def readable(seconds: int) -> str:
    """A duration as people say it: "2 d 3 h", "5 h 20 min", "7 min"."""
    minutes = seconds // 60
    days, hours = minutes // 1440, minutes // 60 % 24
    if days:
        return gettext("{days} d {hours} h").format(days=days, hours=hours)
    if hours:
        return gettext("{hours} h {minutes} min").format(hours=hours, minutes=minutes % 60)
    return gettext("{minutes} min").format(minutes=minutes)


def hours(seconds: int) -> Decimal:
    """A duration in hours, as the exports write it."""
    return (Decimal(seconds) / HOUR).quantize(CENTS)


# --- the reports and their tables ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """A column of a report's table: ``kind`` says how the page shows it (text, count,
    duration in seconds); ``export_label`` heads it in the files when that differs."""

    key: str
    label: str  # a msgid
    kind: str = "count"
    export_label: str = ""

    @property
    def heading(self) -> str:
        return gettext(self.label)

    def shown(self, value: Any) -> str:
        if value is None:
            return "–"
        if self.kind == "duration":
            return readable(value)
        if self.kind == "count":
            return number(value)
        return str(value)

    def column(self) -> Column[dict[str, Any]]:
        if self.kind == "duration":
            key = self.key
            return Column(key, self.export_label or self.label, lambda row: hours(row[key]))
        return Column(self.key, self.label, lambda row: row[self.key])


@dataclass(frozen=True, slots=True)
class Table:
    fields: tuple[Field, ...]
    rows: tuple[dict[str, Any], ...]  # by field key; "total": True on the total row


@dataclass(frozen=True, slots=True)
class Report:
    key: str  # as in the addresses: /oa/reports/{key}.xlsx, /api/.../oa/reports/{key}
    title: str  # a msgid
    note: str  # what it counts, a msgid
    figures: Callable[..., Any]
    table: Callable[[Any], Table]
    chart: Callable[[Any, str], Chart]


_COUNT_FIELDS = (
    Field("submitted", N_("Submitted")),
    Field("approved", N_("Approved")),
    Field("rejected", N_("Rejected")),
    Field("withdrawn", N_("Withdrawn")),
    Field("pending", N_("Pending")),
)


def _counts_table(found: reports.Counts) -> Table:
    def row(by: str, line: reports.CountRow, name: str, total: bool = False) -> dict[str, Any]:
        return {
            "by": by,
            "name": name,
            **{f.key: getattr(line, f.key) for f in _COUNT_FIELDS},
            "total": total,
        }

    kind, department = gettext("Kind"), gettext("Department")
    rows = [row(kind, line, line.name) for line in found.by_kind]
    rows += [
        row(department, line, line.name or gettext("No department")) for line in found.by_department
    ]
    rows.append(row(gettext("Total"), found.total, "", True))
    fields = (Field("by", N_("By"), "text"), Field("name", N_("Name"), "text"), *_COUNT_FIELDS)
    return Table(fields, tuple(rows))


def _counts_chart(found: reports.Counts, title: str) -> Chart:
    return chart(
        title,
        [
            (
                line.name,
                [
                    ("a", line.approved, number(line.approved)),
                    ("b", line.rejected + line.withdrawn, number(line.rejected + line.withdrawn)),
                ],
            )
            for line in found.by_kind
        ],
        (("a", gettext("Approved")), ("b", gettext("Rejected or withdrawn"))),
    )


def _cycle_table(found: reports.CycleTimes) -> Table:
    def row(line: reports.CycleRow, name: str, total: bool = False) -> dict[str, Any]:
        return {
            "kind": name,
            "decided": line.decided,
            "average": line.average_seconds,
            "longest": line.longest_seconds,
            "total": total,
        }

    rows = [row(line, line.name) for line in found.rows]
    rows.append(row(found.total, gettext("Total"), True))
    fields = (
        Field("kind", N_("Kind"), "text"),
        Field("decided", N_("Decided")),
        Field("average", N_("Average time"), "duration", N_("Average time (hours)")),
        Field("longest", N_("Longest time"), "duration", N_("Longest time (hours)")),
    )
    return Table(fields, tuple(rows))


def _cycle_chart(found: reports.CycleTimes, title: str) -> Chart:
    return chart(
        title,
        [
            (
                line.name,
                [
                    ("a", line.average_seconds, readable(line.average_seconds)),
                    ("b", line.longest_seconds, readable(line.longest_seconds)),
                ],
            )
            for line in found.rows
        ],
        (("a", gettext("Average time")), ("b", gettext("Longest time"))),
    )


def _waits_table(found: reports.Waits) -> Table:
    rows = tuple(
        {
            "kind": line.kind_label,
            "step": line.step,
            "step_name": line.step_name,
            "tasks": line.tasks,
            "waiting": line.waiting,
            "average": line.average_seconds,
            "longest": line.longest_seconds,
        }
        for line in found.rows
    )
    fields = (
        Field("kind", N_("Kind"), "text"),
        Field("step", N_("Step")),
        Field("step_name", N_("Step name"), "text"),
        Field("tasks", N_("Tasks")),
        Field("waiting", N_("Still waiting")),
        Field("average", N_("Average wait"), "duration", N_("Average wait (hours)")),
        Field("longest", N_("Longest wait"), "duration", N_("Longest wait (hours)")),
    )
    return Table(fields, rows)


def _waits_chart(found: reports.Waits, title: str) -> Chart:
    return chart(
        title,
        [
            (
                f"{line.step}. {line.step_name}",
                [("a", line.average_seconds, readable(line.average_seconds))],
            )
            for line in found.rows
        ],
    )


REPORTS: dict[str, Report] = {
    report.key: report
    for report in (
        Report(
            "counts",
            N_("Approvals by kind and department"),
            N_(
                "Approvals submitted in the period, by kind and by the requester's "
                "department: how many are approved, rejected, withdrawn, or still pending "
                "(waiting for an approver or returned to the requester)."
            ),
            reports.counts,
            _counts_table,
            _counts_chart,
        ),
        Report(
            "cycle-time",
            N_("Cycle time"),
            N_(
                "Approvals submitted in the period and approved or rejected since: the time "
                "from submission to decision."
            ),
            reports.cycle_times,
            _cycle_table,
            _cycle_chart,
        ),
        Report(
            "waits",
            N_("Where approvals wait longest"),
            N_(
                "Approvers' tasks opened in the period, per kind and step, from being opened "
                "to being acted on; tasks still open count up to now."
            ),
            reports.waits,
            _waits_table,
            _waits_chart,
        ),
    )
}


def table_of(key: str, figures: Any) -> Table:
    """The report's table in the reader's language: what the page shows and the export
    writes."""
    return REPORTS[key].table(figures)


# --- the page --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    report: Report
    figures: Any
    chart: Chart
    table: Table
    exports: dict[str, str]  # format → address


async def _filters(
    session: AsyncSession, registry: ModuleRegistry, typed: dict[str, str]
) -> ReportFilters:
    return await reports.read_filters(
        session,
        registry,
        start=typed["from"],
        end=typed["to"],
        months=typed["months"],
        kind=typed["kind"],
        department=typed["department"],
        today=reports.today(),
    )


async def _choices(
    session: AsyncSession, registry: ModuleRegistry, tenant: TenantContext
) -> dict[str, Any]:
    return {
        "kinds": [
            (k.code, k.label) for k in await flows.flow_kinds(session, registry, tenant.enabled)
        ],
        "departments": [
            (str(node.department.id), node.depth, node.department.name)
            for node in await organisation.departments(session)
        ],
    }


StartDay = Annotated[str, QueryParameter(name="from")]
EndDay = Annotated[str, QueryParameter(name="to")]


def _typed(start: str, end: str, months: str, kind: str, department: str) -> dict[str, str]:
    return {"from": start, "to": end, "months": months, "kind": kind, "department": department}


@get(TAB, guards=[requires(codes.REPORT_READ)])
async def reports_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    start: StartDay = "",
    end: EndDay = "",
    months: FromQuery[str] = "",
    kind: FromQuery[str] = "",
    department: FromQuery[str] = "",
) -> Template:
    typed = _typed(start, end, months, kind, department)
    refusal: Refusal | None = None
    sections: list[Section] = []
    try:
        filters = await _filters(session, registry, typed)
    except ValidationFailed as error:
        refusal = Refusal.of(FILTERS, typed, error)
    else:
        query = filters.query()
        typed = {**typed, "from": query["from"], "to": query["to"], "months": ""}
        for report in REPORTS.values():
            figures = await report.figures(session, registry, actor, filters)
            sections.append(
                Section(
                    report,
                    figures,
                    report.chart(figures, gettext(report.title)),
                    report.table(figures),
                    {
                        kind: f"/t/{tenant.slug}{TAB}/{report.key}.{kind}?{urlencode(query)}"
                        for kind in ("xlsx", "csv")
                    },
                )
            )
    return page(
        "oa/reports/index.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=typed,
        refusal=refusal,
        sections=sections,
        statuses=engine.STATUS_LABELS,
        readable=readable,
        **await _choices(session, registry, tenant),
    )


async def _each(rows: Sequence[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for row in rows:
        yield row


@get(f"{TAB}/{{file_name:str}}", guards=[requires(codes.REPORT_READ)])
async def export_report(
    session: DbSession,
    actor: CurrentActor,
    registry: Registry,
    file_name: FromPath[str],
    start: StartDay = "",
    end: EndDay = "",
    months: FromQuery[str] = "",
    kind: FromQuery[str] = "",
    department: FromQuery[str] = "",
) -> Response[bytes]:
    """``counts.xlsx``, ``waits.csv``, …: the report's table with the page's filters."""
    key, _, file_format = file_name.rpartition(".")
    report = REPORTS.get(key)
    if report is None or file_format not in MEDIA_TYPES:
        raise NotFound("No report {name}.", name=file_name)
    filters = await _filters(session, registry, _typed(start, end, months, kind, department))
    table = table_of(key, await report.figures(session, registry, actor, filters))
    content = await export_rows(
        [f.column() for f in table.fields],
        _each(table.rows),
        file_format,
        title=gettext(report.title),
    )
    period = f"{filters.first.isoformat()}_{filters.last.isoformat()}"
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={"content-disposition": f'attachment; filename="oa-{key}-{period}.{file_format}"'},
    )


PAGES = [reports_page, export_report]
