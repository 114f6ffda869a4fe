"""The documents JSON API under ``/api/t/{slug}/oa/documents``.

Every call needs ``oa.document.read``; what is seen and changed is decided by the folders'
grants (``services/documents.py``): a folder or document the actor may not see is 404, one
they see but may not change 403; grants are set with ``oa.document.manage``. A refused file
(its type, its size, a renamed ``.exe``) is 422 and nothing is stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from core.permissions import Actor
from core.records.api import UPLOAD_BODY_LIMIT, FileUpload, declared_type, download, store_of
from modules.oa import permissions as codes
from modules.oa.models import Document, DocumentFolder
from modules.oa.services import documents
from modules.oa.services.documents import GrantIn, ListedDocument
from modules.oa.views.documents import inline
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

Level = Literal["view", "edit"]
Kind = Literal["department", "role", "member"]
READ = [requires(codes.DOCUMENT_READ)]


class FolderIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    parent_id: uuid.UUID | None = None


class FolderChange(msgspec.Struct, frozen=True, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    #: Where to move it; null is the top level. Left out: it stays where it is.
    parent_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET


class FolderOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    created_at: datetime


class DocumentOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    folder_id: uuid.UUID
    folder_name: str
    name: str
    tags: list[str]
    version: int
    size: int
    content_type: str
    updated_at: datetime


class FolderContent(msgspec.Struct, frozen=True, kw_only=True):
    folder: FolderOut | None
    breadcrumbs: list[FolderOut]
    folders: list[FolderOut]
    documents: list[DocumentOut]
    shared: list[FolderOut]
    can_edit: bool


class GrantBody(msgspec.Struct, frozen=True, kw_only=True):
    kind: Kind
    level: Level = "view"
    department_id: uuid.UUID | None = None
    include_subdepartments: bool = False
    role: str | None = None  # "owner", "admin", "member" or a custom role's id
    user_id: uuid.UUID | None = None


class GrantOut(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    level: str
    subject: str
    department_id: uuid.UUID | None
    include_subdepartments: bool
    role: str | None
    user_id: uuid.UUID | None


class DocumentChange(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    tags: list[str] = []
    #: The folder to move it to. Left out: it stays where it is.
    folder_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET


class VersionOut(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    file_name: str
    content_type: str
    size: int
    uploaded_by: uuid.UUID
    uploaded_by_name: str
    created_at: datetime


class DocumentDetail(msgspec.Struct, frozen=True, kw_only=True):
    document: DocumentOut
    versions: list[VersionOut]
    previewable: bool


def folder_out(folder: DocumentFolder) -> FolderOut:
    return FolderOut(
        id=folder.id, name=folder.name, parent_id=folder.parent_id, created_at=folder.created_at
    )


def document_out(listed: ListedDocument) -> DocumentOut:
    d = listed.document
    return DocumentOut(
        id=d.id,
        folder_id=d.folder_id,
        folder_name=listed.folder_name,
        name=d.name,
        tags=list(d.tags),
        version=listed.version,
        size=listed.size,
        content_type=listed.content_type,
        updated_at=listed.updated_at,  # type: ignore[arg-type]
    )


def grant_out(shown: documents.GrantShown) -> GrantOut:
    asked = documents.grant_in(shown.grant)
    return GrantOut(
        kind=asked.kind,
        level=asked.level,
        subject=shown.subject,
        department_id=asked.department_id,
        include_subdepartments=asked.include_subdepartments,
        role=asked.role,
        user_id=asked.user_id,
    )


async def _detail(session: AsyncSession, actor: Actor, document: Document) -> DocumentDetail:
    found = await documents.versions(session, actor, document.id)
    current = found[0] if found else None
    folder = await documents.open_folder(session, actor, document.folder_id)
    return DocumentDetail(
        document=DocumentOut(
            id=document.id,
            folder_id=document.folder_id,
            folder_name=folder.name,
            name=document.name,
            tags=list(document.tags),
            version=current.version.number if current else 0,
            size=current.attachment.size if current else 0,
            content_type=current.attachment.content_type if current else "",
            updated_at=current.attachment.created_at if current else document.created_at,
        ),
        versions=[
            VersionOut(
                number=v.version.number,
                file_name=v.attachment.file_name,
                content_type=v.attachment.content_type,
                size=v.attachment.size,
                uploaded_by=v.version.created_by,
                uploaded_by_name=v.uploaded_by,
                created_at=v.version.created_at,
            )
            for v in found
        ],
        previewable=current is not None and documents.previewable(current.attachment),
    )


async def _detail_of(session: AsyncSession, actor: Actor, document_id: uuid.UUID) -> DocumentDetail:
    return await _detail(session, actor, await documents.open_document(session, actor, document_id))


class DocumentsApi(Controller):
    path = "/oa/documents"
    tags = ("oa",)

    @get("/", guards=READ)
    async def top_level(self, session: DbSession, actor: CurrentActor) -> FolderContent:
        """The top level: its folders and the folders shared with the actor from elsewhere."""
        return await self._content(session, actor, None)

    @get("/folders/{folder_id:uuid}", guards=READ)
    async def folder(
        self, session: DbSession, actor: CurrentActor, folder_id: FromPath[uuid.UUID]
    ) -> FolderContent:
        return await self._content(session, actor, folder_id)

    @staticmethod
    async def _content(
        session: DbSession, actor: CurrentActor, folder_id: uuid.UUID | None
    ) -> FolderContent:
        view = await documents.folder_view(session, actor, folder_id)
        return FolderContent(
            folder=folder_out(view.folder) if view.folder else None,
            breadcrumbs=[folder_out(f) for f in view.breadcrumbs],
            folders=[folder_out(f) for f in view.folders],
            documents=[document_out(d) for d in view.documents],
            shared=[folder_out(f) for f in view.shared],
            can_edit=view.can_edit,
        )

    @post("/folders", guards=READ)
    async def create_folder(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[FolderIn]
    ) -> FolderOut:
        made = await documents.create_folder(session, actor, data.name, data.parent_id)
        return folder_out(made)

    @put("/folders/{folder_id:uuid}", guards=READ)
    async def change_folder(
        self,
        session: DbSession,
        actor: CurrentActor,
        folder_id: FromPath[uuid.UUID],
        data: JSONBody[FolderChange],
    ) -> FolderOut:
        """Rename (``name``) and/or move (``parent_id``; null: to the top level)."""
        folder = await documents.open_folder(session, actor, folder_id)
        if not isinstance(data.name, msgspec.UnsetType):
            folder = await documents.rename_folder(session, actor, folder_id, data.name)
        if not isinstance(data.parent_id, msgspec.UnsetType):
            folder = await documents.move_folder(session, actor, folder_id, data.parent_id)
        return folder_out(folder)

    @delete("/folders/{folder_id:uuid}", guards=READ)
    async def delete_folder(
        self, session: DbSession, actor: CurrentActor, folder_id: FromPath[uuid.UUID]
    ) -> None:
        await documents.delete_folder(session, actor, folder_id)

    @get("/folders/{folder_id:uuid}/grants", guards=READ)
    async def grants(
        self, session: DbSession, actor: CurrentActor, folder_id: FromPath[uuid.UUID]
    ) -> list[GrantOut]:
        """The folder's own grants; empty: it follows the folder above."""
        return [grant_out(g) for g in await documents.grants(session, actor, folder_id)]

    @put("/folders/{folder_id:uuid}/grants", guards=[requires(codes.DOCUMENT_MANAGE)])
    async def set_grants(
        self,
        session: DbSession,
        actor: CurrentActor,
        folder_id: FromPath[uuid.UUID],
        data: JSONBody[list[GrantBody]],
    ) -> list[GrantOut]:
        """Replace the folder's own grants (an empty list: follow the folder above)."""
        await documents.set_grants(
            session,
            actor,
            folder_id,
            [GrantIn(**msgspec.structs.asdict(grant)) for grant in data],
        )
        return [grant_out(g) for g in await documents.grants(session, actor, folder_id)]

    @post(
        "/folders/{folder_id:uuid}/documents",
        guards=READ,
        request_max_body_size=UPLOAD_BODY_LIMIT,
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        actor: CurrentActor,
        folder_id: FromPath[uuid.UUID],
        data: Annotated[FileUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        name: FromQuery[str] = "",
        tags: FromQuery[str] = "",
    ) -> DocumentDetail:
        """Upload a document (multipart, field ``file``; ``name`` and ``tags`` optional)."""
        made = await documents.upload(
            session,
            store_of(request),
            actor,
            folder_id,
            data.file.filename,
            data.file.file,
            declared_type(data.file),
            name=name,
            tags=tags,
        )
        return await _detail(session, actor, made)

    @get("/search", guards=READ)
    async def search(
        self,
        session: DbSession,
        actor: CurrentActor,
        q: FromQuery[str] = "",
        tag: FromQuery[str] = "",
    ) -> list[DocumentOut]:
        """Documents whose name holds ``q`` (any case) and carry ``tag``, in every folder the
        actor may see."""
        return [document_out(d) for d in await documents.search(session, actor, name=q, tag=tag)]

    @get("/{document_id:uuid}", guards=READ)
    async def document(
        self, session: DbSession, actor: CurrentActor, document_id: FromPath[uuid.UUID]
    ) -> DocumentDetail:
        return await _detail_of(session, actor, document_id)

    @put("/{document_id:uuid}", guards=READ)
    async def change_document(
        self,
        session: DbSession,
        actor: CurrentActor,
        document_id: FromPath[uuid.UUID],
        data: JSONBody[DocumentChange],
    ) -> DocumentDetail:
        """Rename and tag it; with ``folder_id``, move it there too."""
        changed = await documents.change_document(
            session, actor, document_id, name=data.name, tags=",".join(data.tags)
        )
        if not isinstance(data.folder_id, msgspec.UnsetType):
            changed = await documents.move_document(session, actor, document_id, data.folder_id)
        return await _detail(session, actor, changed)

    @delete("/{document_id:uuid}", guards=READ)
    async def delete_document(
        self, session: DbSession, actor: CurrentActor, document_id: FromPath[uuid.UUID]
    ) -> None:
        await documents.delete_document(session, actor, document_id)

    @post("/{document_id:uuid}/versions", guards=READ, request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload_version(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        actor: CurrentActor,
        document_id: FromPath[uuid.UUID],
        data: Annotated[FileUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> DocumentDetail:
        """A new version (multipart, field ``file``); the earlier ones are kept."""
        await documents.upload_version(
            session,
            store_of(request),
            actor,
            document_id,
            data.file.filename,
            data.file.file,
            declared_type(data.file),
        )
        return await _detail_of(session, actor, document_id)

    @post("/{document_id:uuid}/versions/{number:int}/restore", guards=READ)
    async def restore_version(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        actor: CurrentActor,
        document_id: FromPath[uuid.UUID],
        number: FromPath[int],
    ) -> DocumentDetail:
        """Make an earlier version current again: a new version with a copy of its file."""
        await documents.restore_version(session, store_of(request), actor, document_id, number)
        return await _detail_of(session, actor, document_id)

    @get("/{document_id:uuid}/versions/{number:int}/file", guards=READ)
    async def download_version(
        self,
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

    @get("/{document_id:uuid}/preview", guards=READ)
    async def preview(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        actor: CurrentActor,
        document_id: FromPath[uuid.UUID],
        version: FromQuery[int | None] = None,
    ) -> Stream:
        """The current (or ``version``) file shown inline: images and PDFs only, else 404."""
        found, chunks = await documents.open_version(
            session, store_of(request), actor, document_id, version, preview=True
        )
        return inline(found, chunks)


ROUTERS = (DocumentsApi,)
