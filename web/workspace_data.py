"""The "Export and deletion" tab of the workspace settings (``/t/{slug}/settings/data``).

- ``POST /settings/data/export``: queue an export of the whole workspace
  (:mod:`core.workspace.export`); a second one while one is under way is refused inline.
- ``GET /settings/data/export/status``: the status fragment (``#export-status``), which
  the page polls every two seconds while the export is queued or running.
- ``GET /settings/data/exports/{id}/download``: the zip, as an attachment, for seven days.
- ``POST /settings/data/delete``: the owner deletes the workspace after typing its
  address (:mod:`tenants.deletion`); then every page of it says it was deleted.

All of them need ``core.settings.manage``; deleting needs the owner role as well.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.records.storage import file_store
from core.workspace import export
from tenants import deletion
from web.auth import FormData, client_ip
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import typed_in
from web.htmx import wants_partial
from web.settings import DATA, MANAGE, _submit
from web.tenancy import requires


@post("/settings/data/export", guards=[requires(MANAGE)])
async def request_export(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response[Any]:
    return await _submit(
        request,
        session,
        tenant,
        DATA,
        "export",
        {},
        lambda: export.request_export(session, actor_id=actor.user_id),
    )


@get("/settings/data/export/status", guards=[requires(MANAGE)])
async def export_status(session: DbSession, tenant: CurrentTenant) -> Template:
    latest = await export.latest_export(session)
    return Template(
        "settings/_export_status.html",
        context={
            "slug": tenant.slug,
            "export": latest,
            "downloadable": export.is_downloadable(latest, datetime.now(UTC)),
        },
    )


@get("/settings/data/exports/{export_id:uuid}/download", guards=[requires(MANAGE)])
async def download_export(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    export_id: FromPath[uuid.UUID],
) -> Stream:
    row = await export.downloadable(session, export_id)
    assert row.file_key is not None  # downloadable says so
    chunks = await file_store(request.app.state.settings).open(row.file_key)
    name = f"{tenant.slug}-export-{(row.finished_at or row.created_at).date().isoformat()}.zip"
    return Stream(
        chunks,
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "private, no-store",
            "x-content-type-options": "nosniff",
        },
    )


@post("/settings/data/delete", guards=[requires(MANAGE)])
async def delete_workspace(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    """A refusal (not an owner, the address mistyped) comes back beside the input; once
    deleted, the browser goes to the workspace, which now says it was deleted."""
    typed = typed_in(data, "confirm_slug")
    deleted = False

    async def delete() -> None:
        nonlocal deleted
        await deletion.delete_workspace(
            session, tenant, actor, typed["confirm_slug"], ip=client_ip(request)
        )
        deleted = True

    refused = await _submit(request, session, tenant, DATA, "delete", typed, delete)
    if not deleted:
        return refused
    home = f"/t/{tenant.slug}/"
    if wants_partial(request):
        return Response(b"", headers={"hx-redirect": home})
    return Redirect(home, status_code=HTTP_303_SEE_OTHER)


PAGES = [request_export, export_status, download_export, delete_workspace]
