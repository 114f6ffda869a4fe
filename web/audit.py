"""The audit log page under ``/t/{slug}/audit``: the workspace's security- and
finance-relevant actions, newest first, filtered by action, actor and day, with "More"
rows by htmx and a CSV or Excel export of what the filters select.

Its own file beside ``web/members.py`` rather than in ``tenants/views.py``: the log is
core's (``core.audit``), not part of a tenant's lifecycle, and the page has its filter
parsing, template and export. Both routes need ``core.audit.read`` (owners and admins).
The page and the JSON API (``GET /api/t/{slug}/audit``) read through the same query,
:func:`core.audit.entries`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from core import audit
from core.errors import ValidationFailed
from core.exchange.audit import export_audit_log
from core.exchange.exports import MEDIA_TYPES
from web.deps import CurrentTenant, DbSession
from web.forms import optional_day
from web.htmx import wants_partial
from web.tenancy import requires

READ = "core.audit.read"


def _actor(value: str) -> uuid.UUID | None:
    if not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValidationFailed("No member {id}.", id=value) from None


def _filters(action: str, actor_id: str, start: str, end: str) -> audit.Filters:
    """The form's fields (blank: any) as filters; ``end`` counts its whole (UTC) day."""
    first, last = optional_day(start), optional_day(end)
    return audit.Filters(
        action=action.strip() or None,
        actor_id=_actor(actor_id),
        since=datetime.combine(first, time.min, UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), time.min, UTC) if last else None,
    )


@get("/audit", guards=[requires(READ)])
async def audit_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    action: FromQuery[str] = "",
    actor_id: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
    before: FromQuery[uuid.UUID | None] = None,
) -> Template:
    form = {"action": action, "actor_id": actor_id, "start": start, "end": end}
    found = await audit.page(session, _filters(action, actor_id, start, end), before=before)
    chosen = {key: value for key, value in form.items() if value}
    more_url = None
    if found.next_before:
        more = urlencode({**chosen, "before": found.next_before})
        more_url = f"/t/{tenant.slug}/audit?{more}"
    context = {
        "slug": tenant.slug,
        "page": found,
        "first_page": before is None,
        "more_url": more_url,
        "form": form,
        "exports": {
            kind: f"/t/{tenant.slug}/audit/export?{urlencode({**chosen, 'format': kind})}"
            for kind in MEDIA_TYPES
        },
    }
    if wants_partial(request):
        return Template("audit/_rows.html", context=context)
    codes = await audit.actions_present(session)
    context["actions"] = sorted(((code, audit.action_label(code)) for code in codes), key=_by_label)
    context["members"] = [(str(user_id), name) for user_id, name in await audit.members(session)]
    return Template("audit/index.html", context=context)


def _by_label(choice: tuple[str, str]) -> str:
    return choice[1].casefold()


@get("/audit/export", guards=[requires(READ)])
async def export_audit(
    session: DbSession,
    file_format: Annotated[str, QueryParameter(name="format")] = "csv",
    action: FromQuery[str] = "",
    actor_id: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
) -> Response[bytes]:
    """The entries the page shows with the same filters, every page of them."""
    filters = _filters(action, actor_id, start, end)
    content = await export_audit_log(session, filters, file_format)
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={"content-disposition": f'attachment; filename="audit-log.{file_format}"'},
    )


PAGES = [audit_page, export_audit]
