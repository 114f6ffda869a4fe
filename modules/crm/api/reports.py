"""The CRM reports as JSON under ``/api/t/{slug}/crm/reports/…``: the figures the reports
page shows, with the same filters (``from`` and ``to`` as months ``2026-03``, ``team`` a
department id, ``person`` a member's user id, ``pipeline`` a pipeline id) and the same
rights and scopes (``crm.report.read`` and the read right of the records counted, 403
naming the code). Money is a decimal string; a bad filter is 422 naming its input."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from modules.crm import permissions as codes
from modules.crm.api.sales import forecast_out
from modules.crm.schemas.sales import Forecast
from modules.crm.services import contracts, reports
from modules.crm.services.reports import ReportFilters
from web.deps import CurrentActor, DbSession
from web.tenancy import requires


async def report_filters(
    session: DbSession,
    start: Annotated[str, QueryParameter(name="from")] = "",
    end: Annotated[str, QueryParameter(name="to")] = "",
    team: FromQuery[str] = "",
    person: FromQuery[str] = "",
    pipeline: FromQuery[str] = "",
) -> ReportFilters:
    return await reports.read_filters(
        session,
        start=start,
        end=end,
        team=team,
        person=person,
        pipeline=pipeline,
        today=contracts.today(),
    )


Filters = NamedDependency[ReportFilters]
#: Every report needs crm.report.read (and the read right its service asks for) and the filters.
READ = {
    "guards": [requires(codes.REPORT_READ)],
    "dependencies": {"filters": Provide(report_filters)},
}


class ReportApi(Controller):
    path = "/crm/reports"
    tags = ("crm",)

    @get("/funnel", **READ, summary="Funnel conversion by stage")
    async def funnel(
        self, session: DbSession, actor: CurrentActor, filters: Filters
    ) -> reports.Funnel:
        return await reports.funnel(session, actor, filters)

    @get("/win-rate", **READ, summary="Win rate by salesperson")
    async def win_rate(
        self, session: DbSession, actor: CurrentActor, filters: Filters
    ) -> reports.WinRate:
        return await reports.win_rate(session, actor, filters)

    @get("/sales", **READ, summary="Signed contracts by salesperson and month")
    async def sales(
        self, session: DbSession, actor: CurrentActor, filters: Filters
    ) -> reports.Sales:
        return await reports.sales(session, actor, filters)

    @get("/forecast", **READ, summary="The weighted forecast of open opportunities")
    async def forecast(self, session: DbSession, actor: CurrentActor, filters: Filters) -> Forecast:
        return forecast_out(await reports.forecast(session, actor, filters))

    @get("/collection", **READ, summary="Payments received against the payment plan, by month")
    async def collection(
        self, session: DbSession, actor: CurrentActor, filters: Filters
    ) -> reports.Collection:
        return await reports.collection(session, actor, filters)

    @get("/activity", **READ, summary="Follow-ups by person and kind")
    async def activity(
        self, session: DbSession, actor: CurrentActor, filters: Filters
    ) -> reports.Activity:
        return await reports.activity(session, actor, filters)

    @get("/customers", **READ, summary="Customers by lifecycle stage and by source")
    async def customers(
        self, session: DbSession, actor: CurrentActor, filters: Filters
    ) -> reports.Customers:
        return await reports.customers(session, actor, filters)

    @get("/tickets", **READ, summary="Ticket SLA by priority")
    async def tickets(
        self, session: DbSession, actor: CurrentActor, filters: Filters
    ) -> reports.TicketSla:
        return await reports.ticket_sla(session, actor, filters)


ROUTERS = (ReportApi,)
