"""The OA approval reports as JSON under ``/api/t/{slug}/oa/reports/…``: the figures the
reports page shows, with the same filters (``from`` and ``to`` days ``2026-03-31`` or
``months`` for the last N months, ``kind`` a declared approval kind, ``department`` a
department id, counted with those below it). They need ``oa.report.read`` (403 naming the
code); a bad filter is 422 naming its input. Durations are whole seconds."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from modules.oa import permissions as codes
from modules.oa.services import reports
from modules.oa.services.reports import ReportFilters
from web.deps import CurrentActor, DbSession, Registry
from web.tenancy import requires


async def report_filters(
    session: DbSession,
    registry: Registry,
    start: Annotated[str, QueryParameter(name="from")] = "",
    end: Annotated[str, QueryParameter(name="to")] = "",
    months: FromQuery[str] = "",
    kind: FromQuery[str] = "",
    department: FromQuery[str] = "",
) -> ReportFilters:
    return await reports.read_filters(
        session,
        registry,
        start=start,
        end=end,
        months=months,
        kind=kind,
        department=department,
        today=reports.today(),
    )


Filters = NamedDependency[ReportFilters]
READ = {
    "guards": [requires(codes.REPORT_READ)],
    "dependencies": {"filters": Provide(report_filters)},
}


class ReportApi(Controller):
    path = "/oa/reports"
    tags = ("oa",)

    @get("/counts", **READ, summary="Approvals by kind and by department")
    async def counts(
        self, session: DbSession, registry: Registry, actor: CurrentActor, filters: Filters
    ) -> reports.Counts:
        return await reports.counts(session, registry, actor, filters)

    @get("/cycle-time", **READ, summary="Time from submission to decision, per kind")
    async def cycle_time(
        self, session: DbSession, registry: Registry, actor: CurrentActor, filters: Filters
    ) -> reports.CycleTimes:
        return await reports.cycle_times(session, registry, actor, filters)

    @get("/waits", **READ, summary="How long approvers' tasks wait, per kind and step")
    async def waits(
        self, session: DbSession, registry: Registry, actor: CurrentActor, filters: Filters
    ) -> reports.Waits:
        return await reports.waits(session, registry, actor, filters)


ROUTERS = (ReportApi,)
