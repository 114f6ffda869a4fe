"""What every CRM page shares: the CRM tabs a member may open, the page response, and
``/crm`` (the menu's one CRM entry), which opens the first tab the member may see."""

from __future__ import annotations

from litestar import get
from litestar.response import Redirect

from core.i18n import N_
from modules.crm import permissions as codes
from web.deps import CurrentActor, CurrentTenant
from web.module_tabs import TabSet

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

CRM = TabSet("crm_tabs", TABS, N_("CRM"))

#: Who sees the CRM menu entry: whoever may open any of the tabs.
TAB_RIGHTS = CRM.rights
tabs, page = CRM.open, CRM.page


@get("/crm")
async def crm_home(tenant: CurrentTenant, actor: CurrentActor) -> Redirect:
    """The CRM menu entry: the first tab the member may open."""
    return CRM.home(tenant, actor)
