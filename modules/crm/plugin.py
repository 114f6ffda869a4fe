"""CRM's manifest and hook implementations."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import ApprovalDecided
from core.context import TenantContext
from core.i18n import N_
from core.permissions import Actor
from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import (
    ApprovalKind,
    EventHandler,
    MenuEntry,
    ModuleManifest,
    ScheduledJob,
)
from core.plugins.results import Panel, SearchResult
from core.records.access import RecordCheck, RecordType
from core.search import PER_SOURCE
from modules.crm import permissions as codes
from modules.crm.access import scoped_get
from modules.crm.api import contracts as contracts_api
from modules.crm.api import customers as customers_api
from modules.crm.api import leads as leads_api
from modules.crm.api import reports as reports_api
from modules.crm.api import sales as sales_api
from modules.crm.models import Contract, Lead, Opportunity, Quote, Ticket
from modules.crm.services import contracts, demo, lead_import, leads, payments, pool, setup
from modules.crm.views import contracts as contract_views
from modules.crm.views import customer_forms as customer_form_views
from modules.crm.views import customers as customer_views
from modules.crm.views import lead_settings, pipeline_settings, settings
from modules.crm.views import leads as lead_views
from modules.crm.views import opportunities as opportunity_views
from modules.crm.views import payments as payment_views
from modules.crm.views import pool as pool_views
from modules.crm.views import quotes as quote_views
from modules.crm.views import reports as report_views
from modules.crm.views import targets as target_views
from modules.crm.views import tickets as ticket_views
from modules.crm.views import web_forms as web_form_views
from modules.crm.views.common import TAB_RIGHTS, crm_home

HERE = Path(__file__).parent
KEY = "crm"
#: The approval CRM asks for; OA's flows (or core's default rule) may test these fields.
CONTRACT_APPROVAL = "crm.contract"


def _in_scope(model: type, resource: str, missing: str) -> RecordCheck:
    """A record type's check: the record exists and the actor's scope on it shows it."""

    async def check(session: AsyncSession, actor: Actor, record_id: uuid.UUID) -> None:
        await scoped_get(session, actor, model, resource, record_id, missing)

    return check


RECORD_TYPES = (
    RecordType(
        "crm.lead",
        codes.LEAD_READ,
        codes.LEAD_WRITE,
        _in_scope(Lead, "crm.lead", N_("No lead {id}.")),
        "/crm/leads/{id}",
    ),
    RecordType(
        "crm.opportunity",
        codes.OPPORTUNITY_READ,
        codes.OPPORTUNITY_WRITE,
        _in_scope(Opportunity, "crm.opportunity", N_("No opportunity {id}.")),
        "/crm/opportunities/{id}",
    ),
    RecordType(
        "crm.quote",
        codes.QUOTE_READ,
        codes.QUOTE_WRITE,
        _in_scope(Quote, "crm.quote", N_("No quote {id}.")),
        "/crm/quotes/{id}",
    ),
    RecordType(
        "crm.contract",
        codes.CONTRACT_READ,
        codes.CONTRACT_WRITE,
        _in_scope(Contract, "crm.contract", N_("No contract {id}.")),
        "/crm/contracts/{id}",
    ),
    RecordType(
        "crm.ticket",
        codes.TICKET_READ,
        codes.TICKET_WRITE,
        _in_scope(Ticket, "crm.ticket", N_("No ticket {id}.")),
        "/crm/tickets/{id}",
    ),
)


@hookimpl
def atrium_module() -> ModuleManifest:
    return ModuleManifest(
        key=KEY,
        name="CRM",
        version="0.1.0",
        summary="Leads, customers, opportunities, quotes, contracts, payments and tickets.",
        permissions=codes.PERMISSIONS,
        # One entry, as Odoo has one app per module: /crm opens the first CRM tab the
        # member may see, and the tabs (views/common.py) lead to the rest.
        menu=(MenuEntry("CRM", "/crm", icon="crm", permission=TAB_RIGHTS, order=10),),
        api_routers=(
            *leads_api.API,
            *customers_api.API,
            *sales_api.API,
            *contracts_api.ROUTERS,
            # --- reports ---
            *reports_api.ROUTERS,
        ),
        view_routers=(
            crm_home,
            settings.settings_page,
            *lead_views.PAGES,
            *lead_settings.PAGES,
            *customer_views.PAGES,
            *customer_form_views.PAGES,
            *pool_views.PAGES,
            *opportunity_views.PAGES,
            *quote_views.PAGES,
            *pipeline_settings.PAGES,
            *contract_views.PAGES,
            *payment_views.PAGES,
            *ticket_views.PAGES,
            *target_views.PAGES,
            # --- reports ---
            *report_views.PAGES,
        ),
        event_handlers=(
            EventHandler(
                ApprovalDecided, contracts.on_approval_decided, name="crm.contract_approval"
            ),
        ),
        scheduled_jobs=(
            ScheduledJob("pool_take_back", "35 * * * *", pool.take_back_job),
            ScheduledJob("overdue_installments", "0 1 * * *", payments.overdue_job),
        ),
        templates=HERE / "templates",
        migrations=HERE / "migrations",
        approval_kinds=(
            ApprovalKind(CONTRACT_APPROVAL, "Contract approval", ("amount", "discount")),
        ),
        record_types=RECORD_TYPES,
        public_routers=web_form_views.PAGES,  # the web-to-lead form, /public/crm/...
        import_specs={"crm.leads": lead_import.LEAD_IMPORT},
        # --- demo ---
        demo_data=demo.demo_data,
    )


@hookimpl
async def atrium_module_enabled(ctx: TenantContext, session: AsyncSession, module_key: str) -> None:
    if module_key == KEY:
        await setup.set_up(session, ctx)


@hookimpl
async def atrium_global_search(
    ctx: TenantContext, session: AsyncSession, actor: Actor, query: str
) -> list[SearchResult]:
    """Leads the member may see whose name, company, number, e-mail or phone match."""
    found = await leads.search_leads(session, actor, query, limit=PER_SOURCE)
    return [
        SearchResult(
            f"{lead.number} {lead.name}",
            f"/t/{ctx.slug}/crm/leads/{lead.id}",
            KEY,
            "Leads",
            leads.search_score(lead, query),
        )
        for lead in found
    ]


@hookimpl
async def atrium_record_panels(
    ctx: TenantContext, session: AsyncSession, actor: Actor, record_type: str, record_id: uuid.UUID
) -> list[Panel]:
    """On a party's page: its CRM owner, stage and level, and a link to its customer page."""
    return await customer_views.party_panels(ctx, session, actor, record_type, record_id)
