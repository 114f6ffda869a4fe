"""The sales JSON API under ``/api/t/{slug}/crm``: pipelines and stages, opportunities (with
moves, closing, lines and the weighted forecast) and quotes (lines, sending, the customer's
answer, revisions, the PDF).

Reading pipelines needs ``crm.opportunity.read``, changing them ``crm.settings.manage``;
opportunities need ``crm.opportunity.read`` / ``.write``, quotes ``crm.quote.read`` /
``.write``. The data scopes are the services' business: a record outside them is 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from core import contributions
from core.context import TenantContext
from core.records.storage import file_store
from modules.crm import permissions as codes
from modules.crm.models import Quote
from modules.crm.schemas.sales import (
    CloseIn,
    Forecast,
    ForecastMonth,
    MoveIn,
    OpportunityChanges,
    OpportunityIn,
    OpportunityLineOut,
    OpportunityLines,
    OpportunityOut,
    OpportunityPage,
    PipelineChanges,
    PipelineIn,
    PipelineOut,
    QuoteChanges,
    QuoteIn,
    QuoteLineOut,
    QuoteLines,
    QuoteOut,
    QuotePage,
    ReopenIn,
    SendIn,
    StageChanges,
    StageIn,
    StageOrder,
    StageOut,
)
from modules.crm.services import opportunities, pipelines, quotes
from modules.crm.services.opportunities import NewOpportunity, OpportunityFilters
from modules.crm.services.quotes import QuoteFilters
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.recovery import mailer
from web.tenancy import requires

# --- pipelines -------------------------------------------------------------------------------


async def pipeline_outs(session: Any, found: list[Any]) -> list[PipelineOut]:
    stages = await pipelines.stages_of(session, [p.id for p in found])
    counts = await pipelines.opportunity_counts(
        session, [s.id for listed in stages.values() for s in listed]
    )
    return [
        PipelineOut(
            id=p.id,
            name=p.name,
            is_default=p.is_default,
            active=p.active,
            stages=[
                StageOut(
                    id=s.id,
                    name=s.name,
                    sequence=s.sequence,
                    probability=s.probability,
                    kind=s.kind,  # type: ignore[arg-type]
                    opportunity_count=counts[s.id],
                )
                for s in stages[p.id]
            ],
        )
        for p in found
    ]


async def _pipeline_out(session: Any, pipeline_id: uuid.UUID) -> PipelineOut:
    [out] = await pipeline_outs(session, [await pipelines.get_pipeline(session, pipeline_id)])
    return out


@get("/crm/pipelines", guards=[requires(codes.OPPORTUNITY_READ)], summary="Pipelines and stages")
async def list_pipelines(
    session: DbSession, include_archived: FromQuery[bool] = False
) -> list[PipelineOut]:
    """The default pipeline first, then by name; each with its stages in order."""
    found = await pipelines.pipelines(session, include_archived=include_archived)
    return await pipeline_outs(session, found)


@post("/crm/pipelines", guards=[requires(codes.SETTINGS_MANAGE)], summary="Create a pipeline")
async def create_pipeline(
    session: DbSession, actor: CurrentActor, data: JSONBody[PipelineIn]
) -> PipelineOut:
    """It starts with one open, one won and one lost stage."""
    made = await pipelines.create_pipeline(session, actor, data.name, is_default=data.is_default)
    return await _pipeline_out(session, made.id)


@get(
    "/crm/pipelines/{pipeline_id:uuid}",
    guards=[requires(codes.OPPORTUNITY_READ)],
    summary="A pipeline and its stages",
)
async def get_pipeline(session: DbSession, pipeline_id: FromPath[uuid.UUID]) -> PipelineOut:
    return await _pipeline_out(session, pipeline_id)


@patch(
    "/crm/pipelines/{pipeline_id:uuid}",
    guards=[requires(codes.SETTINGS_MANAGE)],
    summary="Rename, make default, archive or restore a pipeline",
)
async def update_pipeline(
    session: DbSession,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    data: JSONBody[PipelineChanges],
) -> PipelineOut:
    await pipelines.update_pipeline(
        session, actor, pipeline_id, name=data.name, is_default=data.is_default, active=data.active
    )
    return await _pipeline_out(session, pipeline_id)


@delete(
    "/crm/pipelines/{pipeline_id:uuid}",
    guards=[requires(codes.SETTINGS_MANAGE)],
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete a pipeline that holds no opportunities",
)
async def delete_pipeline(
    session: DbSession, actor: CurrentActor, pipeline_id: FromPath[uuid.UUID]
) -> None:
    await pipelines.delete_pipeline(session, actor, pipeline_id)


@post(
    "/crm/pipelines/{pipeline_id:uuid}/stages",
    guards=[requires(codes.SETTINGS_MANAGE)],
    summary="Add a stage at the end of a pipeline",
)
async def add_stage(
    session: DbSession,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    data: JSONBody[StageIn],
) -> PipelineOut:
    await pipelines.add_stage(
        session, actor, pipeline_id, name=data.name, probability=data.probability, kind=data.kind
    )
    return await _pipeline_out(session, pipeline_id)


@patch(
    "/crm/pipelines/{pipeline_id:uuid}/stages/{stage_id:uuid}",
    guards=[requires(codes.SETTINGS_MANAGE)],
    summary="Rename a stage, set its win probability or its kind",
)
async def update_stage(
    session: DbSession,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    stage_id: FromPath[uuid.UUID],
    data: JSONBody[StageChanges],
) -> PipelineOut:
    await pipelines.get_stage(session, stage_id, pipeline_id)
    await pipelines.update_stage(
        session, actor, stage_id, name=data.name, probability=data.probability, kind=data.kind
    )
    return await _pipeline_out(session, pipeline_id)


@delete(
    "/crm/pipelines/{pipeline_id:uuid}/stages/{stage_id:uuid}",
    guards=[requires(codes.SETTINGS_MANAGE)],
    status_code=HTTP_204_NO_CONTENT,
    summary="Delete a stage that holds no opportunities",
)
async def delete_stage(
    session: DbSession,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    stage_id: FromPath[uuid.UUID],
) -> None:
    """A stage holding opportunities, or the last of its kind, is 409."""
    await pipelines.get_stage(session, stage_id, pipeline_id)
    await pipelines.delete_stage(session, actor, stage_id)


@put(
    "/crm/pipelines/{pipeline_id:uuid}/stage-order",
    guards=[requires(codes.SETTINGS_MANAGE)],
    summary="Put a pipeline's stages in a new order",
)
async def reorder_stages(
    session: DbSession,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    data: JSONBody[StageOrder],
) -> PipelineOut:
    await pipelines.reorder_stages(session, actor, pipeline_id, data.stage_ids)
    return await _pipeline_out(session, pipeline_id)


# --- opportunities ---------------------------------------------------------------------------


async def opportunity_out(session: Any, opportunity: Any) -> OpportunityOut:
    view = await opportunities.view_of(session, opportunity)
    o = view.opportunity
    return OpportunityOut(
        id=o.id,
        number=o.number,
        name=o.name,
        party_id=o.party_id,
        customer_name=view.customer_name,
        contact_id=o.contact_id,
        pipeline_id=o.pipeline_id,
        stage_id=o.stage_id,
        stage_name=view.stage.name,
        stage_kind=view.stage.kind,  # type: ignore[arg-type]
        probability=view.stage.probability,
        amount=o.amount,
        currency=o.currency,
        expected_close_on=o.expected_close_on,
        status=o.status,  # type: ignore[arg-type]
        closed_at=o.closed_at,
        close_reason=o.close_reason,
        owner_id=o.owner_id,
        owner_name=view.owner_name,
        department_id=o.department_id,
        version=o.version,
        lead_id=o.lead_id,
        created_at=o.created_at,
        lines=[
            OpportunityLineOut(
                id=shown.line.id,
                product_id=shown.line.product_id,
                sku=shown.sku,
                product_name=shown.product_name,
                quantity=shown.line.quantity,
                unit_price=shown.line.unit_price,
                amount=shown.amount,
            )
            for shown in view.lines
        ],
    )


@get(
    "/crm/opportunities",
    guards=[requires(codes.OPPORTUNITY_READ)],
    summary="Opportunities, newest first, with filters",
)
async def list_opportunities(
    session: DbSession,
    actor: CurrentActor,
    pipeline_id: FromQuery[uuid.UUID | None] = None,
    stage_id: FromQuery[uuid.UUID | None] = None,
    owner_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[str | None] = None,
    close_month: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = 50,
) -> OpportunityPage:
    """``status`` is open, won or lost; ``close_month`` a month (``2026-03``) of the expected
    close date; ``q`` part of the name or the number. Pass ``next_cursor`` back as
    ``after`` for the next page (at most 200 a page)."""
    filters = OpportunityFilters(
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        owner_id=owner_id,
        status=status or None,
        close_month=opportunities.month_of(close_month or ""),
        search=q,
    )
    return await opportunities.list_opportunities(
        session, actor, filters, cursor=after or None, limit=limit
    )


@post(
    "/crm/opportunities",
    guards=[requires(codes.OPPORTUNITY_WRITE)],
    summary="Create an opportunity",
)
async def create_opportunity(
    session: DbSession, actor: CurrentActor, data: JSONBody[OpportunityIn]
) -> OpportunityOut:
    made = await opportunities.create_opportunity(
        session,
        actor,
        NewOpportunity(
            name=data.name,
            party_id=data.party_id,
            amount=data.amount,
            contact_id=data.contact_id,
            expected_close_on=data.expected_close_on,
            pipeline_id=data.pipeline_id,
            stage_id=data.stage_id,
            lines=data.lines,
        ),
    )
    return await opportunity_out(session, made)


def forecast_out(found: opportunities.WeightedForecast) -> Forecast:
    return Forecast(
        currency=found.currency,
        months=[
            ForecastMonth(month=m.month, count=m.count, amount=m.amount, weighted=m.weighted)
            for m in found.months
        ],
        amount=found.amount,
        weighted=found.weighted,
    )


@get(
    "/crm/opportunities/forecast",
    guards=[requires(codes.OPPORTUNITY_READ)],
    summary="The weighted forecast of open opportunities by expected close month",
)
async def opportunity_forecast(
    session: DbSession, actor: CurrentActor, pipeline_id: FromQuery[uuid.UUID | None] = None
) -> Forecast:
    """Per month (its first day; ``null`` for no expected close date): the count, the sum
    of amounts and the sum of amount × stage probability, in the member's scope."""
    return forecast_out(await opportunities.forecast(session, actor, pipeline_id))


@get(
    "/crm/opportunities/{opportunity_id:uuid}",
    guards=[requires(codes.OPPORTUNITY_READ)],
    summary="An opportunity with its lines",
)
async def get_opportunity(
    session: DbSession, actor: CurrentActor, opportunity_id: FromPath[uuid.UUID]
) -> OpportunityOut:
    return await opportunity_out(
        session, await opportunities.get_opportunity(session, actor, opportunity_id)
    )


@patch(
    "/crm/opportunities/{opportunity_id:uuid}",
    guards=[requires(codes.OPPORTUNITY_WRITE)],
    summary="Change an open opportunity",
)
async def update_opportunity(
    session: DbSession,
    actor: CurrentActor,
    opportunity_id: FromPath[uuid.UUID],
    data: JSONBody[OpportunityChanges],
) -> OpportunityOut:
    changed = await opportunities.update_opportunity(session, actor, opportunity_id, data)
    return await opportunity_out(session, changed)


@post(
    "/crm/opportunities/{opportunity_id:uuid}/move",
    guards=[requires(codes.OPPORTUNITY_WRITE)],
    status_code=HTTP_200_OK,
    summary="Move an opportunity to another stage of its pipeline",
)
async def move_opportunity(
    session: DbSession,
    actor: CurrentActor,
    opportunity_id: FromPath[uuid.UUID],
    data: JSONBody[MoveIn],
) -> OpportunityOut:
    """Into a won or lost stage it closes (``reason`` required); into an open stage a
    closed one reopens."""
    moved = await opportunities.move_opportunity(
        session, actor, opportunity_id, data.stage_id, data.reason
    )
    return await opportunity_out(session, moved.opportunity)


def _closer(won: bool) -> Any:
    outcome = "won" if won else "lost"

    @post(
        f"/crm/opportunities/{{opportunity_id:uuid}}/{outcome}",
        guards=[requires(codes.OPPORTUNITY_WRITE)],
        status_code=HTTP_200_OK,
        summary=f"Mark an open opportunity {outcome}, with the reason",
        name=f"crm-opportunity-{outcome}",
    )
    async def close(
        session: DbSession,
        actor: CurrentActor,
        opportunity_id: FromPath[uuid.UUID],
        data: JSONBody[CloseIn],
    ) -> OpportunityOut:
        moved = await opportunities.close_opportunity(
            session, actor, opportunity_id, won=won, reason=data.reason
        )
        return await opportunity_out(session, moved.opportunity)

    return close


@post(
    "/crm/opportunities/{opportunity_id:uuid}/reopen",
    guards=[requires(codes.OPPORTUNITY_WRITE)],
    status_code=HTTP_200_OK,
    summary="Reopen a won or lost opportunity",
)
async def reopen_opportunity(
    session: DbSession,
    actor: CurrentActor,
    opportunity_id: FromPath[uuid.UUID],
    data: JSONBody[ReopenIn],
) -> OpportunityOut:
    moved = await opportunities.reopen_opportunity(session, actor, opportunity_id, data.stage_id)
    return await opportunity_out(session, moved.opportunity)


@put(
    "/crm/opportunities/{opportunity_id:uuid}/lines",
    guards=[requires(codes.OPPORTUNITY_WRITE)],
    summary="Replace an open opportunity's product lines",
)
async def replace_opportunity_lines(
    session: DbSession,
    actor: CurrentActor,
    opportunity_id: FromPath[uuid.UUID],
    data: JSONBody[OpportunityLines],
) -> OpportunityOut:
    """The amount becomes the lines' sum (with no lines it stays as it was)."""
    changed = await opportunities.replace_lines(session, actor, opportunity_id, data.lines)
    return await opportunity_out(session, changed)


# --- quotes ----------------------------------------------------------------------------------


async def quote_out(session: Any, tenant: TenantContext, registry: Any, quote: Quote) -> QuoteOut:
    lines = await quotes.lines_of(session, quote.id)
    skus = await quotes.skus_of(session, lines)
    stock = await contributions.stock_levels(
        registry, tenant, session, list(dict.fromkeys(line.product_id for line in lines))
    )
    return QuoteOut(
        id=quote.id,
        number=quote.number,
        revision=quote.revision,
        status=quote.status,  # type: ignore[arg-type]
        party_id=quote.party_id,
        customer_name=await quotes.customer_name(session, quote),
        contact_id=quote.contact_id,
        opportunity_id=quote.opportunity_id,
        currency=quote.currency,
        valid_until=quote.valid_until,
        notes=quote.notes,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        tax_total=quote.tax_total,
        total=quote.total,
        sent_at=quote.sent_at,
        decided_at=quote.decided_at,
        owner_id=quote.owner_id,
        created_at=quote.created_at,
        lines=[
            QuoteLineOut(
                id=line.id,
                sku=skus.get(line.product_id, ""),
                tax_rate_id=line.tax_rate_id,
                **quotes.line_values(line),
            )
            for line in lines
        ],
        stock=stock,
    )


@get("/crm/quotes", guards=[requires(codes.QUOTE_READ)], summary="Quotes, newest first")
async def list_quotes(
    session: DbSession,
    actor: CurrentActor,
    status: FromQuery[str | None] = None,
    party_id: FromQuery[uuid.UUID | None] = None,
    opportunity_id: FromQuery[uuid.UUID | None] = None,
    q: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = 50,
) -> QuotePage:
    """Without ``status``, every live revision (superseded ones left out); ``q`` is part of
    a number. Pass ``next_cursor`` back as ``after`` for the next page."""
    filters = QuoteFilters(
        status=status or None, party_id=party_id, opportunity_id=opportunity_id, search=q
    )
    return await quotes.list_quotes(session, actor, filters, cursor=after or None, limit=limit)


@post("/crm/quotes", guards=[requires(codes.QUOTE_WRITE)], summary="Create a draft quote")
async def create_quote(
    session: DbSession,
    actor: CurrentActor,
    tenant: CurrentTenant,
    registry: Registry,
    data: JSONBody[QuoteIn],
) -> QuoteOut:
    made = await quotes.create_quote(session, actor, data)
    return await quote_out(session, tenant, registry, made)


@get(
    "/crm/quotes/{quote_id:uuid}",
    guards=[requires(codes.QUOTE_READ)],
    summary="A quote with its lines (and stock, where a module keeps it)",
)
async def get_quote(
    session: DbSession,
    actor: CurrentActor,
    tenant: CurrentTenant,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
) -> QuoteOut:
    """``stock`` maps each product to its available quantity when an enabled module keeps
    stock (ERP), else it is ``null``."""
    found = await quotes.get_quote(session, actor, quote_id)
    return await quote_out(session, tenant, registry, found)


@patch(
    "/crm/quotes/{quote_id:uuid}",
    guards=[requires(codes.QUOTE_WRITE)],
    summary="Change a draft quote's contact, validity or notes",
)
async def update_quote(
    session: DbSession,
    actor: CurrentActor,
    tenant: CurrentTenant,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
    data: JSONBody[QuoteChanges],
) -> QuoteOut:
    changed = await quotes.update_quote(session, actor, quote_id, data)
    return await quote_out(session, tenant, registry, changed)


@put(
    "/crm/quotes/{quote_id:uuid}/lines",
    guards=[requires(codes.QUOTE_WRITE)],
    summary="Replace a draft quote's lines",
)
async def replace_quote_lines(
    session: DbSession,
    actor: CurrentActor,
    tenant: CurrentTenant,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
    data: JSONBody[QuoteLines],
) -> QuoteOut:
    changed = await quotes.replace_lines(session, actor, quote_id, data.lines)
    return await quote_out(session, tenant, registry, changed)


@post(
    "/crm/quotes/{quote_id:uuid}/send",
    guards=[requires(codes.QUOTE_WRITE)],
    status_code=HTTP_200_OK,
    summary="Mail the quote's PDF to the customer and mark it sent",
)
async def send_quote(
    request: Request[Any, Any, Any],
    session: DbSession,
    actor: CurrentActor,
    tenant: CurrentTenant,
    registry: Registry,
    quote_id: FromPath[uuid.UUID],
    data: JSONBody[SendIn],
) -> QuoteOut:
    """To ``to``, else the contact's (or the customer's) e-mail address."""
    store = file_store(request.app.state.settings)
    sent = await quotes.send_quote(
        session, actor, tenant, mailer(request), store, quote_id, data.to
    )
    return await quote_out(session, tenant, registry, sent)


def _decision(path: str, summary: str, decide: Any) -> Any:
    @post(
        f"/crm/quotes/{{quote_id:uuid}}/{path}",
        guards=[requires(codes.QUOTE_WRITE)],
        status_code=HTTP_200_OK,
        summary=summary,
        name=f"crm-quote-{path}",
    )
    async def act(
        session: DbSession,
        actor: CurrentActor,
        tenant: CurrentTenant,
        registry: Registry,
        quote_id: FromPath[uuid.UUID],
    ) -> QuoteOut:
        return await quote_out(session, tenant, registry, await decide(session, actor, quote_id))

    return act


@get(
    "/crm/quotes/{quote_id:uuid}/pdf",
    guards=[requires(codes.QUOTE_READ)],
    summary="The quote as a PDF",
)
async def quote_pdf(
    request: Request[Any, Any, Any],
    session: DbSession,
    actor: CurrentActor,
    tenant: CurrentTenant,
    quote_id: FromPath[uuid.UUID],
) -> Response[bytes]:
    found = await quotes.get_quote(session, actor, quote_id)
    return pdf_response(
        quotes.pdf_name(found),
        await quotes.quote_pdf_bytes(
            session, tenant, file_store(request.app.state.settings), found
        ),
    )


def pdf_response(name: str, content: bytes) -> Response[bytes]:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "x-content-type-options": "nosniff",
        },
    )


API = [
    list_pipelines,
    create_pipeline,
    get_pipeline,
    update_pipeline,
    delete_pipeline,
    add_stage,
    update_stage,
    delete_stage,
    reorder_stages,
    list_opportunities,
    create_opportunity,
    opportunity_forecast,
    get_opportunity,
    update_opportunity,
    move_opportunity,
    _closer(won=True),
    _closer(won=False),
    reopen_opportunity,
    replace_opportunity_lines,
    list_quotes,
    create_quote,
    get_quote,
    update_quote,
    replace_quote_lines,
    send_quote,
    _decision("mark-sent", "Mark a quote sent without mailing it", quotes.mark_sent),
    _decision("accept", "The customer accepted the quote", quotes.accept_quote),
    _decision("reject", "The customer rejected the quote", quotes.reject_quote),
    _decision("revise", "Revise a sent or rejected quote into a new draft", quotes.revise_quote),
    quote_pdf,
]
