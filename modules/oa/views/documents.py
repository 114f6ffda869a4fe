"""Document pages under ``/t/{slug}/oa/documents``: the top level and a folder's content
(breadcrumbs, subfolders, documents, the search box), the folder forms (new, rename, move,
delete), the grants editor, uploads, and a document's page (versions, preview, new version).
Every rule is the service's (``services/documents.py``); a refusal is shown beside its input.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Stream, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation, roles
from core.context import TenantContext
from core.models import Membership, User
from core.permissions import Actor
from core.records.api import (
    UPLOAD_BODY_LIMIT,
    content_disposition,
    declared_type,
    download,
    store_of,
)
from core.records.attachments import DEFAULT_LIMITS, KINDS, size_label
from core.records.models import Attachment
from core.records.views import MultipartForm
from modules.oa import permissions as codes
from modules.oa.services import documents
from modules.oa.services.documents import KIND_LABELS, LEVEL_LABELS, GrantIn
from modules.oa.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, answer_form, maybe_id, read_id, typed_in
from web.tenancy import requires

TAB = "/oa/documents"
READ = [requires(codes.DOCUMENT_READ)]


def inline(attachment: Attachment, chunks: AsyncIterator[bytes]) -> Stream:
    """An image or a PDF shown in the page: its detected type (never a client's), inline,
    and ``nosniff`` so a browser never reads it as anything else."""
    return Stream(
        chunks,
        media_type=attachment.content_type,
        headers={
            "content-disposition": "inline"
            + content_disposition(attachment.file_name).removeprefix("attachment"),
            "content-length": str(attachment.size),
            "x-content-type-options": "nosniff",
            "cache-control": "private",
        },
    )


def _folder_url(tenant: TenantContext, folder_id: uuid.UUID | None) -> str:
    base = f"/t/{tenant.slug}{TAB}"
    return base if folder_id is None else f"{base}/folders/{folder_id}"


def _upload_note() -> dict[str, str]:
    return {
        "allowed": ", ".join(k.label for k in KINDS.values()),
        "limit": size_label(DEFAULT_LIMITS.max_bytes),
    }


async def _folder_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    folder_id: uuid.UUID | None,
    *,
    q: str = "",
    tag: str = "",
    refusal: Refusal | None = None,
) -> Template:
    view = await documents.folder_view(session, actor, folder_id)
    searching = bool(q.strip() or tag.strip())
    return page(
        "oa/documents/folder.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        view=view,
        here=_folder_url(tenant, folder_id),
        q=q,
        tag=tag,
        searching=searching,
        found=await documents.search(session, actor, name=q, tag=tag) if searching else [],
        targets=await documents.folder_choices(session, actor) if view.folder else [],
        refusal=refusal,
        upload_note=_upload_note(),
    )


@get(TAB, guards=READ)
async def documents_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    tag: FromQuery[str] = "",
) -> Template:
    return await _folder_page(session, tenant, actor, None, q=q, tag=tag)


@get(f"{TAB}/folders/{{folder_id:uuid}}", guards=READ)
async def folder_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    folder_id: FromPath[uuid.UUID],
) -> Template:
    return await _folder_page(session, tenant, actor, folder_id)


@post(f"{TAB}/folders/new", guards=READ)
async def create_folder_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    typed = typed_in(data, "name", "parent_id")
    parent_id = maybe_id(typed["parent_id"])

    async def create() -> None:
        await documents.create_folder(
            session, actor, typed["name"], read_id("parent_id", typed["parent_id"])
        )

    async def again(refusal: Refusal) -> Template:
        return await _folder_page(session, tenant, actor, parent_id, refusal=refusal)

    back = _folder_url(tenant, parent_id)
    return await answer_form(session, "folder", typed, create, back=back, refused=again)


def _folder_action(
    name: str, fields: tuple[str, ...], run: Any, back_to_parent: bool = False
) -> Any:
    """A form on a folder's page (rename, move, delete); a refusal shows the page again."""

    @post(
        f"{TAB}/folders/{{folder_id:uuid}}/{name}", guards=READ, name=f"oa_document_folder_{name}"
    )
    async def act(
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        folder_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        typed = typed_in(data, *fields)
        parent: list[uuid.UUID | None] = []

        async def go() -> None:
            folder = await documents.open_folder(session, actor, folder_id)
            parent.append(folder.parent_id)
            await run(session, actor, folder_id, typed)

        async def again(refusal: Refusal) -> Template:
            return await _folder_page(session, tenant, actor, folder_id, refusal=refusal)

        def back() -> str:
            return _folder_url(tenant, parent[0] if back_to_parent else folder_id)

        return await answer_form(session, name, typed, go, back=back, refused=again)

    return act


rename_folder_from_page = _folder_action(
    "rename", ("name",), lambda s, a, i, t: documents.rename_folder(s, a, i, t["name"])
)
move_folder_from_page = _folder_action(
    "move",
    ("parent_id",),
    lambda s, a, i, t: documents.move_folder(s, a, i, read_id("parent_id", t["parent_id"])),
)
delete_folder_from_page = _folder_action(
    "delete", (), lambda s, a, i, _t: documents.delete_folder(s, a, i), back_to_parent=True
)


# --- uploads ------------------------------------------------------------------------------------


def _upload_of(data: dict[str, Any]) -> UploadFile | None:
    upload = data.get("file")
    return upload if isinstance(upload, UploadFile) and upload.filename else None


@post(
    f"{TAB}/folders/{{folder_id:uuid}}/upload",
    guards=READ,
    request_max_body_size=UPLOAD_BODY_LIMIT,
)
async def upload_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    folder_id: FromPath[uuid.UUID],
    data: MultipartForm,
) -> Response[Any]:
    typed = {name: str(data.get(name, "")) for name in ("name", "tags", "file")}
    upload = _upload_of(data)
    made: list[uuid.UUID] = []

    async def go() -> None:
        made.append(
            (
                await documents.upload(
                    session,
                    store_of(request),
                    actor,
                    folder_id,
                    upload.filename if upload else "",
                    upload.file if upload else b"",
                    declared_type(upload) if upload else None,
                    name=typed["name"],
                    tags=typed["tags"],
                )
            ).id
        )

    async def again(refusal: Refusal) -> Template:
        return await _folder_page(session, tenant, actor, folder_id, refusal=refusal)

    return await answer_form(
        session,
        "upload",
        typed,
        go,
        back=lambda: f"/t/{tenant.slug}{TAB}/{made[0]}",
        refused=again,
    )


# --- grants -------------------------------------------------------------------------------------

GRANT_FIELDS = ("kind", "level", "department_id", "include_subdepartments", "role", "user_id")


async def _members(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.active.is_(True))
        .order_by(User.display_name)
    )
    return [(row[0], row[1]) for row in rows.all()]


async def _grants_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    folder_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    folder = await documents.open_folder(session, actor, folder_id)
    return page(
        "oa/documents/grants.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        folder=folder,
        here=_folder_url(tenant, folder.id),
        grants=await documents.grants(session, actor, folder.id),
        departments=await organisation.departments(session),
        custom_roles=await roles.roles(session),
        builtin_roles=roles.BUILT_IN_ROLES,
        members=await _members(session),
        level_labels=LEVEL_LABELS,
        kind_labels=KIND_LABELS,
        refusal=refusal,
        form=refusal.typed if refusal else dict.fromkeys(GRANT_FIELDS, ""),
    )


@get(f"{TAB}/folders/{{folder_id:uuid}}/grants", guards=[requires(codes.DOCUMENT_MANAGE)])
async def grants_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, folder_id: FromPath[uuid.UUID]
) -> Template:
    return await _grants_page(session, tenant, actor, folder_id)


def _typed_grant(typed: dict[str, str]) -> GrantIn:
    kind = typed["kind"]
    return GrantIn(
        kind=kind,
        level=typed["level"],
        department_id=read_id("department_id", typed["department_id"])
        if kind == "department"
        else None,
        include_subdepartments=typed["include_subdepartments"] == "on",
        role=typed["role"] or None if kind == "role" else None,
        user_id=read_id("user_id", typed["user_id"]) if kind == "member" else None,
    )


def _grants_action(name: str, change: Any) -> Any:
    """Add one grant or take one away; the service replaces the folder's grants (audited)."""

    @post(
        f"{TAB}/folders/{{folder_id:uuid}}/grants/{name}",
        guards=[requires(codes.DOCUMENT_MANAGE)],
        name=f"oa_document_grants_{name}",
    )
    async def act(
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        folder_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        typed = typed_in(data, *GRANT_FIELDS, "index")

        async def go() -> None:
            kept = [
                documents.grant_in(g.grant)
                for g in await documents.grants(session, actor, folder_id)
            ]
            await documents.set_grants(session, actor, folder_id, change(kept, typed))

        async def again(refusal: Refusal) -> Template:
            return await _grants_page(session, tenant, actor, folder_id, refusal=refusal)

        back = f"{_folder_url(tenant, folder_id)}/grants"
        return await answer_form(session, "grant", typed, go, back=back, refused=again)

    return act


def _without(kept: list[GrantIn], typed: dict[str, str]) -> list[GrantIn]:
    index = int(typed["index"]) if typed["index"].isdigit() else -1
    return [grant for i, grant in enumerate(kept) if i != index]


add_grant_from_page = _grants_action("add", lambda kept, typed: [*kept, _typed_grant(typed)])
remove_grant_from_page = _grants_action("remove", _without)


# --- a document's page --------------------------------------------------------------------------


async def _document_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    document_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    document = await documents.open_document(session, actor, document_id)
    shown = await documents.versions(session, actor, document.id)
    current = shown[0] if shown else None
    kind = current.attachment.content_type if current else ""
    return page(
        "oa/documents/document.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        document=document,
        folder=await documents.open_folder(session, actor, document.folder_id),
        versions=shown,
        sizes={v.version.number: size_label(v.attachment.size) for v in shown},
        preview=(
            ("pdf" if kind == "application/pdf" else "image")
            if current and documents.previewable(current.attachment)
            else None
        ),
        can_edit=await documents.may_edit(session, actor, document.folder_id),
        move_to=await documents.folder_choices(session, actor),
        here=f"/t/{tenant.slug}{TAB}/{document.id}",
        refusal=refusal,
        form=refusal.typed
        if refusal
        else {"name": document.name, "tags": ", ".join(document.tags), "file": ""},
        upload_note=_upload_note(),
    )


@get(f"{TAB}/{{document_id:uuid}}", guards=READ)
async def document_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    document_id: FromPath[uuid.UUID],
) -> Template:
    return await _document_page(session, tenant, actor, document_id)


@post(f"{TAB}/{{document_id:uuid}}/versions", guards=READ, request_max_body_size=UPLOAD_BODY_LIMIT)
async def version_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    document_id: FromPath[uuid.UUID],
    data: MultipartForm,
) -> Response[Any]:
    upload = _upload_of(data)
    typed = {"file": ""}

    async def go() -> None:
        await documents.upload_version(
            session,
            store_of(request),
            actor,
            document_id,
            upload.filename if upload else "",
            upload.file if upload else b"",
            declared_type(upload) if upload else None,
        )

    return await _on_document_page(session, tenant, actor, document_id, "version", typed, go)


async def _on_document_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    document_id: uuid.UUID,
    form: str,
    typed: dict[str, str],
    go: Any,
    back: Any = None,
) -> Response[Any]:
    """A form on a document's page: done, back to the page (or ``back``); refused, the page
    again with the refusal beside the form."""

    async def again(refusal: Refusal) -> Template:
        return await _document_page(session, tenant, actor, document_id, refusal=refusal)

    here = f"/t/{tenant.slug}{TAB}/{document_id}"
    return await answer_form(session, form, typed, go, back=back or here, refused=again)


def _document_action(name: str, form: str, fields: tuple[str, ...], run: Any) -> Any:
    """A form on a document's page (name and tags, move), as ``_folder_action`` for folders;
    ``form`` names it for its refusals."""

    @post(f"{TAB}/{{document_id:uuid}}/{name}", guards=READ, name=f"oa_document_{name}")
    async def act(
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        document_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        typed = typed_in(data, *fields)

        async def go() -> None:
            await run(session, actor, document_id, typed)

        return await _on_document_page(session, tenant, actor, document_id, form, typed, go)

    return act


change_document_from_page = _document_action(
    "edit",
    "document",
    ("name", "tags"),
    lambda s, a, i, t: documents.change_document(s, a, i, name=t["name"], tags=t["tags"]),
)
move_document_from_page = _document_action(
    "move",
    "move",
    ("folder_id",),
    lambda s, a, i, t: documents.move_document(s, a, i, read_id("folder_id", t["folder_id"])),
)


@post(f"{TAB}/{{document_id:uuid}}/versions/{{number:int}}/restore", guards=READ)
async def restore_version_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    document_id: FromPath[uuid.UUID],
    number: FromPath[int],
) -> Response[Any]:
    async def go() -> None:
        await documents.restore_version(session, store_of(request), actor, document_id, number)

    return await _on_document_page(session, tenant, actor, document_id, "restore", {}, go)


@post(f"{TAB}/{{document_id:uuid}}/delete", guards=READ)
async def delete_document_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    document_id: FromPath[uuid.UUID],
) -> Response[Any]:
    folder: list[uuid.UUID] = []

    async def go() -> None:
        folder.append((await documents.open_document(session, actor, document_id)).folder_id)
        await documents.delete_document(session, actor, document_id)

    def back() -> str:
        return _folder_url(tenant, folder[0])

    return await _on_document_page(session, tenant, actor, document_id, "delete", {}, go, back)


@get(f"{TAB}/{{document_id:uuid}}/versions/{{number:int}}/file", guards=READ)
async def download_version(
    request: Request[Any, Any, Any],
    session: DbSession,
    actor: CurrentActor,
    document_id: FromPath[uuid.UUID],
    number: FromPath[int],
) -> Stream:
    found, chunks = await documents.open_version(
        session, store_of(request), actor, document_id, number
    )
    return download(found, chunks)


@get(f"{TAB}/{{document_id:uuid}}/preview", guards=READ)
async def preview(
    request: Request[Any, Any, Any],
    session: DbSession,
    actor: CurrentActor,
    document_id: FromPath[uuid.UUID],
    version: FromQuery[int | None] = None,
) -> Stream:
    """What an <img> or the PDF <iframe> loads: images and PDFs only (others: 404)."""
    found, chunks = await documents.open_version(
        session, store_of(request), actor, document_id, version, preview=True
    )
    return inline(found, chunks)


PAGES = [
    documents_page,
    folder_page,
    create_folder_from_page,
    rename_folder_from_page,
    move_folder_from_page,
    delete_folder_from_page,
    upload_from_page,
    grants_page,
    add_grant_from_page,
    remove_grant_from_page,
    document_page,
    version_from_page,
    change_document_from_page,
    move_document_from_page,
    restore_version_from_page,
    delete_document_from_page,
    download_version,
    preview,
]
