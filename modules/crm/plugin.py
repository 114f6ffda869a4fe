"""CRM's manifest and hook implementations."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.i18n import N_
from core.permissions import Actor
from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import ApprovalKind, MenuEntry, ModuleManifest
from core.records.access import RecordCheck, RecordType
from modules.crm import permissions as codes
from modules.crm.access import scoped_get
from modules.crm.models import Contract, Lead, Opportunity, Quote, Ticket
from modules.crm.services import setup
from modules.crm.views import settings

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
        menu=(
            MenuEntry("Leads", "/crm/leads", icon="lead", permission=codes.LEAD_READ, order=10),
            MenuEntry(
                "CRM customers",
                "/crm/customers",
                icon="customer",
                permission=codes.CUSTOMER_READ,
                order=11,
            ),
            MenuEntry(
                "Opportunities",
                "/crm/opportunities",
                icon="deal",
                permission=codes.OPPORTUNITY_READ,
                order=12,
            ),
            MenuEntry(
                "Contracts",
                "/crm/contracts",
                icon="contract",
                permission=codes.CONTRACT_READ,
                order=13,
            ),
            MenuEntry(
                "Tickets", "/crm/tickets", icon="ticket", permission=codes.TICKET_READ, order=14
            ),
            MenuEntry(
                "CRM reports", "/crm/reports", icon="chart", permission=codes.REPORT_READ, order=15
            ),
        ),
        # Each area's routers, handlers and jobs; every "# [area ...]" line is a place an
        # area's entries go (and the line goes once they are in).
        api_routers=(
            # [leads api]
            # [customers api]
            # [sales api]
            # [contracts api]
            # [reports api]
        ),
        view_routers=(
            settings.settings_page,
            # [leads views]
            # [customers views]
            # [sales views]
            # [contracts views]
            # [reports views]
        ),
        event_handlers=(
            # [contracts handlers]
        ),
        scheduled_jobs=(
            # [customers jobs]
            # [contracts jobs]
        ),
        templates=HERE / "templates",
        migrations=HERE / "migrations",
        approval_kinds=(
            ApprovalKind(CONTRACT_APPROVAL, "Contract approval", ("amount", "discount")),
        ),
        record_types=RECORD_TYPES,
    )


@hookimpl
async def atrium_module_enabled(ctx: TenantContext, session: AsyncSession, module_key: str) -> None:
    if module_key == KEY:
        await setup.set_up(session, ctx)


# [leads hooks]
# [customers hooks]
# [sales hooks]
# [contracts hooks]
# [reports hooks]
