"""What every OA page shares: the OA tabs a member may open, the page response, and
``/oa`` (the menu's one OA entry), which opens the first tab the member may see."""

from __future__ import annotations

from litestar import get
from litestar.response import Redirect

from core.i18n import N_
from modules.oa import permissions as codes
from web.deps import CurrentActor, CurrentTenant
from web.module_tabs import TabSet

#: The OA tabs, in order: label (a msgid), path under the workspace, the right to see it.
TABS: tuple[tuple[str, str, str], ...] = (
    # --- approvals ---
    (N_("Approvals"), "/oa/approvals", codes.APPROVAL_READ),
    # --- announcements ---
    (N_("Announcements"), "/oa/announcements", codes.ANNOUNCEMENT_READ),
    # --- tasks ---
    (N_("Tasks"), "/oa/tasks", codes.TASK_READ),
    # --- calendar ---
    (N_("Calendar"), "/oa/calendar", codes.CALENDAR_READ),
    # --- forms ---
    (N_("New request"), "/oa/forms", codes.APPROVAL_READ),
    # --- documents ---
    (N_("Documents"), "/oa/documents", codes.DOCUMENT_READ),
    # --- reports ---
    (N_("Reports"), "/oa/reports", codes.REPORT_READ),
)

OA = TabSet("oa_tabs", TABS, N_("OA"))
TAB_RIGHTS = OA.rights
page = OA.page


@get("/oa")
async def oa_home(tenant: CurrentTenant, actor: CurrentActor) -> Redirect:
    """The OA menu entry: the first tab the member may open."""
    return OA.home(tenant, actor)
