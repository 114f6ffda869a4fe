"""What every CRM page shares: the CRM tabs a member may open, and the page response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.response import Template

from core.context import TenantContext
from core.i18n import N_
from core.permissions import Actor
from modules.crm import permissions as codes

#: The CRM tabs, in order: label (a msgid), path under the workspace, the right to see it.
TABS = (
    (N_("Leads"), "/crm/leads", codes.LEAD_READ),
    (N_("Customers"), "/crm/customers", codes.CUSTOMER_READ),
    (N_("Public pool"), "/crm/pool", codes.POOL_READ),
    (N_("Opportunities"), "/crm/opportunities", codes.OPPORTUNITY_READ),
    (N_("Quotes"), "/crm/quotes", codes.QUOTE_READ),
    (N_("Contracts"), "/crm/contracts", codes.CONTRACT_READ),
    (N_("Payments"), "/crm/payments", codes.PAYMENT_READ),
    (N_("Tickets"), "/crm/tickets", codes.TICKET_READ),
    (N_("Targets"), "/crm/targets", codes.TARGET_READ),
    (N_("CRM settings"), "/crm/settings", codes.SETTINGS_MANAGE),
)


@dataclass(frozen=True, slots=True)
class Tab:
    label: str  # a msgid, translated where shown
    href: str
    current: bool


def tabs(tenant: TenantContext, actor: Actor, current: str) -> list[Tab]:
    """The tabs ``actor`` may open; ``current`` is the path of the page's own tab."""
    return [
        Tab(label, f"/t/{tenant.slug}{path}", path == current)
        for label, path, right in TABS
        if actor.can(right)
    ]


def page(
    template: str,
    tenant: TenantContext,
    actor: Actor,
    tab: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A CRM page: ``template`` extends ``crm/layout.html``; ``tab`` is its tab's path."""
    return Template(
        template,
        context={"crm_tabs": tabs(tenant, actor, tab), "slug": tenant.slug, **context},
        status_code=status_code,
    )
