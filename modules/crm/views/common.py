"""What every CRM page shares: the CRM tabs a member may open, the page response, and
``/crm`` (the menu's one CRM entry), which opens the first tab the member may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import get
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.context import TenantContext
from core.errors import PermissionDenied
from core.i18n import N_
from core.permissions import Actor
from modules.crm import permissions as codes
from web.deps import CurrentActor, CurrentTenant

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
    (N_("Reports"), "/crm/reports", codes.REPORT_READ),
    (N_("CRM settings"), "/crm/settings", codes.SETTINGS_MANAGE),
)

#: Who sees the CRM menu entry: whoever may open any of the tabs.
TAB_RIGHTS = tuple(right for _, _, right in TABS)


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


@get("/crm")
async def crm_home(tenant: CurrentTenant, actor: CurrentActor) -> Redirect:
    """The CRM menu entry: the first tab the member may open."""
    opened = tabs(tenant, actor, "")
    if not opened:
        raise PermissionDenied("You may not see any part of CRM.")
    return Redirect(opened[0].href, status_code=HTTP_303_SEE_OTHER)
