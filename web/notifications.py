"""The notifications bell: the member's latest unread notifications, and "mark all read".

``GET /t/{slug}/notifications`` answers the bell's panel (a partial, for htmx)
or the whole page (a link or a boosted navigation). Each notification reads
in the reader's language (:func:`core.records.api.notification_out`) and links
to its record where that record has a page (:func:`core.records.access.record_page`:
the record type's page, core's or an enabled module's; else it reads as text).
``POST /t/{slug}/notifications/read`` marks them all read; htmx gets the empty
panel and a bell without a count, a plain form is sent back to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.context import TenantContext
from core.plugins.registry import ModuleRegistry
from core.records import timeline
from core.records.access import record_page
from core.records.api import notification_out
from core.records.models import Notification
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.htmx import wants_partial

#: The latest unread notifications the panel lists (the page says how to see them all).
PANEL_SIZE = 20


@dataclass(frozen=True, slots=True)
class NotificationItem:
    message: str  # in the reader's language
    href: str | None  # the record's page, if it has one
    created_at: datetime


def _item(
    registry: ModuleRegistry, ctx: TenantContext, notification: Notification
) -> NotificationItem:
    href = record_page(registry, ctx, notification.record_type, notification.record_id)
    return NotificationItem(notification_out(notification).message, href, notification.created_at)


def _panel(slug: str, items: list[NotificationItem], **context: Any) -> Template:
    return Template("notifications/_panel.html", context={"slug": slug, "items": items, **context})


@get("/notifications")
async def notifications(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> Template:
    unread = await timeline.unread_notifications(session, actor.user_id, PANEL_SIZE)
    items = [_item(registry, tenant, n) for n in unread]
    if wants_partial(request):
        return _panel(tenant.slug, items)
    return Template("notifications/page.html", context={"slug": tenant.slug, "items": items})


@post("/notifications/read")
async def mark_all_read(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response[Any]:
    await timeline.mark_notifications_read(session, actor.user_id)
    if wants_partial(request):
        return _panel(tenant.slug, [], cleared=True)
    return Redirect(f"/t/{tenant.slug}/notifications", status_code=HTTP_303_SEE_OTHER)


PAGES = [notifications, mark_all_read]
