"""CRM settings: the landing page that leads to each area's own settings."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from core.i18n import N_
from modules.crm import permissions as codes
from modules.crm.views.common import page
from web.deps import CurrentActor, CurrentTenant
from web.tenancy import requires

#: Each settings page: its title and what it sets (msgids), its path under the workspace.
SECTIONS = (
    (
        N_("Sales teams"),
        N_("Who shares the leads, and each person's daily cap."),
        "/crm/settings/teams",
    ),
    (
        N_("Assignment rules"),
        N_("Which team a new lead goes to, by source and region."),
        "/crm/settings/assignment",
    ),
    (
        N_("Web forms"),
        N_("Forms for your website that turn visitors into leads."),
        "/crm/settings/web-forms",
    ),
    (
        N_("Public pool"),
        N_("When customers go back to the pool, and how many one person may own."),
        "/crm/settings/pool",
    ),
    (
        N_("Pipelines"),
        N_("Your sales stages and the chance of winning at each."),
        "/crm/settings/pipelines",
    ),
)


@get("/crm/settings", guards=[requires(codes.SETTINGS_MANAGE)])
async def settings_page(tenant: CurrentTenant, actor: CurrentActor) -> Template:
    sections = [(title, what, f"/t/{tenant.slug}{path}") for title, what, path in SECTIONS]
    return page("crm/settings.html", tenant, actor, "/crm/settings", sections=sections)
