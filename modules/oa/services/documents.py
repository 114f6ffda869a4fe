"""Documents (文档/云盘): folders in a tree, who may see and edit them, files with versions.

**Access.** Every read and write asks :class:`FolderRule` (built by :func:`folder_rule`),
the one place that decides. A folder is governed by the nearest folder on its path (itself
or above) that has grants: a grant to a department (optionally with the departments below
it), to a role (built-in or custom) or to a member, each ``view`` (see and download) or
``edit`` (upload, new versions, rename, subfolders). A folder with no grants on its whole
path is the workspace's shared space (Feishu/DingTalk's 企业空间): every member views and
edits it. Holders of ``oa.document.manage`` (owners and admins) see and change everything
and alone set grants. A folder the actor may not see is 404; one they see but may not
change is 403.

**Tree.** Folder names are unique among siblings ignoring case (a unique index); a folder is
moved anywhere but into itself or below itself, and deleted only when empty. Changes to the
tree take a per-workspace advisory lock, so two moves at once cannot make a cycle.

**Files.** A version's bytes are a core attachment on record type ``oa.document``
(``core.records.attachments.attach``: checked by content, stored in core's file store), so
the orphan sweep keeps them and the workspace export carries them. A new version keeps the
old ones; the highest number is the current one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core import audit, organisation
from core.db import add_unique, assign_unique
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.i18n import N_
from core.models import Department, MemberRole, Membership, Role, User
from core.orm import uuid7
from core.permissions import Actor
from core.records import attachments
from core.records.models import Attachment
from core.records.storage import FileStore
from core.roles import BUILT_IN_ROLES
from modules.oa import permissions as codes
from modules.oa.models.documents import (
    DOCUMENT_NAME_MAX,
    FOLDER_NAME_MAX,
    GRANT_KINDS,
    GRANT_LEVELS,
    Document,
    DocumentFolder,
    DocumentGrant,
    DocumentVersion,
)

RECORD = "oa.document"  # the record type of a document's files, and the audit subject
FOLDER_SUBJECT = "oa.document_folder"
MAX_DEPTH = 12
MAX_TAGS = 10
TAG_MAX = 40
SEARCH_LIMIT = 100
#: What a browser shows in the page itself; every other kind is downloaded.
PREVIEW_KINDS = frozenset({"png", "jpeg", "gif", "webp", "pdf"})
LEVEL_LABELS = {"view": N_("View and download"), "edit": N_("Edit")}
KIND_LABELS = {"department": N_("Department"), "role": N_("Role"), "member": N_("Member")}
MISSING_FOLDER = N_("No folder {id}.")
MISSING_DOCUMENT = N_("No document {id}.")


# --- who may see and change a folder ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FolderRule:
    """What the actor matches in grants, worked out once per call: the one access rule."""

    manager: bool
    user_id: uuid.UUID
    department_id: uuid.UUID | None
    departments_above: tuple[uuid.UUID, ...]  # the actor's department and those above it
    builtin_role: str
    role_ids: tuple[uuid.UUID, ...]

    def _matches(self, level: str) -> ColumnElement[bool]:
        """A grant (``DocumentGrant``) that gives the actor ``level``."""
        subject = [
            and_(DocumentGrant.kind == "member", DocumentGrant.user_id == self.user_id),
            and_(DocumentGrant.kind == "role", DocumentGrant.builtin_role == self.builtin_role),
        ]
        if self.role_ids:
            subject.append(
                and_(DocumentGrant.kind == "role", DocumentGrant.role_id.in_(self.role_ids))
            )
        if self.department_id is not None:
            subject.append(
                and_(
                    DocumentGrant.kind == "department",
                    or_(
                        DocumentGrant.department_id == self.department_id,
                        and_(
                            DocumentGrant.include_subdepartments.is_(True),
                            DocumentGrant.department_id.in_(self.departments_above),
                        ),
                    ),
                )
            )
        matched = or_(*subject)
        return and_(matched, DocumentGrant.level == "edit") if level == "edit" else matched

    def allows(self, folder: type[DocumentFolder], level: str = "view") -> ColumnElement[bool]:
        """The WHERE clause: the actor may ``level`` the folder ``folder`` (an alias)."""
        if self.manager:
            return true()
        above = aliased(DocumentFolder)
        governing = (
            select(above.id)
            .where(
                folder.path.startswith(above.path),
                exists().where(DocumentGrant.folder_id == above.id),
            )
            .order_by(func.length(above.path).desc())
            .limit(1)
            .correlate(folder)
            .scalar_subquery()
        )
        granted = exists().where(DocumentGrant.folder_id == governing, self._matches(level))
        return or_(governing.is_(None), granted)


async def folder_rule(session: AsyncSession, actor: Actor) -> FolderRule:
    """The access rule for ``actor`` (``oa.document.read`` needed: else 403)."""
    actor.require(codes.DOCUMENT_READ)
    above: list[uuid.UUID] = []
    if actor.department_id is not None:
        path = await session.scalar(
            select(Department.path).where(Department.id == actor.department_id)
        )
        above = organisation.path_ids(path) if path else []
    builtin = await session.scalar(
        select(Membership.role).where(Membership.id == actor.membership_id)
    )
    custom = await session.scalars(
        select(MemberRole.role_id).where(MemberRole.membership_id == actor.membership_id)
    )
    return FolderRule(
        manager=actor.can(codes.DOCUMENT_MANAGE),
        user_id=actor.user_id,
        department_id=actor.department_id,
        departments_above=tuple(above),
        builtin_role=builtin or "",
        role_ids=tuple(custom),
    )


async def open_folder(
    session: AsyncSession,
    actor: Actor,
    folder_id: uuid.UUID,
    *,
    level: str = "view",
    for_update: bool = False,
) -> DocumentFolder:
    """The folder if the actor may see it (else 404) and, for ``edit``, change it (else 403)."""
    rule = await folder_rule(session, actor)
    query = select(DocumentFolder, rule.allows(DocumentFolder, "edit")).where(
        DocumentFolder.id == folder_id, rule.allows(DocumentFolder, "view")
    )
    if for_update:
        query = query.with_for_update(of=DocumentFolder)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(MISSING_FOLDER, id=str(folder_id))
    folder, editable = row
    if level == "edit" and not editable:
        raise PermissionDenied("You may see this folder but not change it.")
    return folder


async def may_edit(session: AsyncSession, actor: Actor, folder_id: uuid.UUID | None) -> bool:
    """Whether the actor may add to the folder (None: the top level, the shared space)."""
    if folder_id is None:
        return actor.can(codes.DOCUMENT_READ)
    try:
        await open_folder(session, actor, folder_id, level="edit")
    except PermissionDenied:
        return False
    return True


# --- the tree -----------------------------------------------------------------------------------


async def _audited(
    session: AsyncSession,
    actor: Actor,
    action: str,
    subject: DocumentFolder | Document,
    detail: dict[str, object],
) -> None:
    """The workspace's audit log: a change to a folder or a document, by ``actor``."""
    await audit.record(
        session,
        action,
        actor_id=actor.user_id,
        subject_type=FOLDER_SUBJECT if isinstance(subject, DocumentFolder) else RECORD,
        subject_id=subject.id,
        detail=detail,
    )


async def _lock_tree(session: AsyncSession) -> None:
    """One tree change at a time per workspace: two moves at once cannot make a cycle."""
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtext('oa-docs:' || current_setting('app.tenant_id')))"
        )
    )


def _folder_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the folder a name.", field="name")
    if len(name) > FOLDER_NAME_MAX:
        raise ValidationFailed(
            "A folder name has at most {max} characters.", max=FOLDER_NAME_MAX, field="name"
        )
    if "/" in name or "\\" in name:
        raise ValidationFailed("A folder name cannot contain a slash.", field="name")
    return name


def _taken(name: str) -> Conflict:
    return Conflict("There is already a folder {name} here.", name=name, field="name")


async def _parent(
    session: AsyncSession, actor: Actor, parent_id: uuid.UUID | None
) -> DocumentFolder | None:
    """The folder to put something in, which the actor must be able to edit; None is the top."""
    if parent_id is None:
        return None
    return await open_folder(session, actor, parent_id, level="edit")


async def create_folder(
    session: AsyncSession, actor: Actor, name: str, parent_id: uuid.UUID | None = None
) -> DocumentFolder:
    """A new folder at the top level (the shared space: anyone) or in a folder one may edit."""
    await folder_rule(session, actor)
    name = _folder_name(name)
    await _lock_tree(session)
    parent = await _parent(session, actor, parent_id)
    if parent is not None and parent.path.count("/") - 1 >= MAX_DEPTH:
        raise ValidationFailed(
            "Folders go at most {max} levels deep.", max=MAX_DEPTH, field="parent_id"
        )
    folder_id = uuid7()
    folder = DocumentFolder(
        id=folder_id,
        parent_id=parent_id,
        name=name,
        path=f"{parent.path if parent else '/'}{folder_id}/",
        created_by=actor.user_id,
    )
    if not await add_unique(session, folder):
        raise _taken(name)
    return folder


async def rename_folder(
    session: AsyncSession, actor: Actor, folder_id: uuid.UUID, name: str
) -> DocumentFolder:
    name = _folder_name(name)
    folder = await open_folder(session, actor, folder_id, level="edit", for_update=True)
    if not await assign_unique(session, folder, {"name": name}):
        raise _taken(name)
    return folder


async def move_folder(
    session: AsyncSession, actor: Actor, folder_id: uuid.UUID, parent_id: uuid.UUID | None
) -> DocumentFolder:
    """Put a folder (with everything in it) into another folder, or at the top level. It
    then follows the grants of its new place unless it has its own; audited."""
    await _lock_tree(session)
    folder = await open_folder(session, actor, folder_id, level="edit", for_update=True)
    parent = await _parent(session, actor, parent_id)
    if parent is not None and parent.path.startswith(folder.path):
        raise ValidationFailed(
            "A folder cannot go into itself or a folder inside it.", field="parent_id"
        )
    old_path, old_parent = folder.path, folder.parent_id
    new_path = f"{parent.path if parent else '/'}{folder.id}/"
    deepest = await session.scalar(
        select(
            func.max(
                func.length(DocumentFolder.path)
                - func.length(func.replace(DocumentFolder.path, "/", ""))
            )
        ).where(DocumentFolder.path.startswith(old_path))
    )
    depth_below = (deepest or 0) - old_path.count("/")
    if new_path.count("/") - 1 + depth_below > MAX_DEPTH:
        raise ValidationFailed(
            "Folders go at most {max} levels deep.", max=MAX_DEPTH, field="parent_id"
        )
    if not await assign_unique(session, folder, {"parent_id": parent_id}):
        raise _taken(folder.name)
    await session.execute(
        update(DocumentFolder)
        .where(DocumentFolder.path.startswith(old_path))
        .values(path=func.concat(new_path, func.substr(DocumentFolder.path, len(old_path) + 1)))
        .execution_options(synchronize_session=False)
    )
    await session.refresh(folder)
    await _audited(
        session,
        actor,
        "oa.document_folder.moved",
        folder,
        {
            "name": folder.name,
            "from": str(old_parent) if old_parent else None,
            "to": str(parent_id) if parent_id else None,
        },
    )
    return folder


async def delete_folder(session: AsyncSession, actor: Actor, folder_id: uuid.UUID) -> None:
    """Delete an empty folder (no folders, no documents in it; 409 otherwise); audited."""
    await _lock_tree(session)
    folder = await open_folder(session, actor, folder_id, level="edit", for_update=True)
    inside = await session.scalar(
        select(
            exists().where(DocumentFolder.parent_id == folder.id)
            | exists().where(Document.folder_id == folder.id)
        )
    )
    if inside:
        raise Conflict(
            "The folder {name} is not empty: move or delete what is in it first.",
            name=folder.name,
        )
    await session.delete(folder)
    await session.flush()
    await _audited(session, actor, "oa.document_folder.deleted", folder, {"name": folder.name})


@dataclass(frozen=True, slots=True)
class FolderView:
    """A folder's page: where it is, what is in it, and what the actor may do there."""

    folder: DocumentFolder | None  # None: the top level
    breadcrumbs: list[DocumentFolder]  # the folders above it the actor may see, top first
    folders: list[DocumentFolder]
    documents: list[ListedDocument]
    shared: list[DocumentFolder]  # top level only: folders one sees inside folders one does not
    can_edit: bool
    can_manage: bool


async def folder_view(
    session: AsyncSession, actor: Actor, folder_id: uuid.UUID | None = None
) -> FolderView:
    rule = await folder_rule(session, actor)
    folder = None if folder_id is None else await open_folder(session, actor, folder_id)
    seen = rule.allows(DocumentFolder)
    folders = select(DocumentFolder).where(seen).order_by(func.lower(DocumentFolder.name))
    crumbs: list[DocumentFolder] = []
    shared: list[DocumentFolder] = []
    if folder is None:
        folders = folders.where(DocumentFolder.parent_id.is_(None))
        parent = aliased(DocumentFolder)
        hidden_parent = ~exists().where(parent.id == DocumentFolder.parent_id, rule.allows(parent))
        shared = list(
            await session.scalars(
                select(DocumentFolder)
                .where(seen, DocumentFolder.parent_id.is_not(None), hidden_parent)
                .order_by(func.lower(DocumentFolder.name))
            )
        )
    else:
        folders = folders.where(DocumentFolder.parent_id == folder.id)
        above = [i for i in organisation.path_ids(folder.path) if i != folder.id]
        if above:
            found = {
                f.id: f
                for f in await session.scalars(
                    select(DocumentFolder).where(DocumentFolder.id.in_(above), seen)
                )
            }
            crumbs = [found[i] for i in above if i in found]
    return FolderView(
        folder=folder,
        breadcrumbs=crumbs,
        folders=list(await session.scalars(folders)),
        documents=[] if folder is None else await _documents(session, rule, folder_id=folder.id),
        shared=shared,
        can_edit=await may_edit(session, actor, folder_id),
        can_manage=rule.manager,
    )


async def folder_choices(session: AsyncSession, actor: Actor) -> list[DocumentFolder]:
    """Every folder the actor may put something into, by path (for "Move to")."""
    rule = await folder_rule(session, actor)
    query = select(DocumentFolder).where(rule.allows(DocumentFolder, "edit"))
    found = list(await session.scalars(query))
    names = {f.id: f.name for f in found}
    return sorted(
        found, key=lambda f: [names.get(i, "").lower() for i in organisation.path_ids(f.path)]
    )


# --- grants -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrantIn:
    """A grant as asked for: ``kind`` and its subject, and the level."""

    kind: str
    level: str = "view"
    department_id: uuid.UUID | None = None
    include_subdepartments: bool = False
    role: str | None = None  # "owner", "admin", "member" or a custom role's id
    user_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class GrantShown:
    grant: DocumentGrant
    subject: str  # the department's, custom role's or member's name; a built-in role's key


async def grants(session: AsyncSession, actor: Actor, folder_id: uuid.UUID) -> list[GrantShown]:
    """The folder's own grants, with what they name (empty: it follows the folder above)."""
    folder = await open_folder(session, actor, folder_id)
    rows = await session.execute(
        select(DocumentGrant, Department.name, Role.name, User.display_name)
        .outerjoin(Department, Department.id == DocumentGrant.department_id)
        .outerjoin(Role, Role.id == DocumentGrant.role_id)
        .outerjoin(User, User.id == DocumentGrant.user_id)
        .where(DocumentGrant.folder_id == folder.id)
        .order_by(DocumentGrant.kind, DocumentGrant.id)
    )
    return [
        GrantShown(grant, department or role or member or grant.builtin_role or "")
        for grant, department, role, member in rows.all()
    ]


async def _checked_grant(session: AsyncSession, wanted: GrantIn) -> DocumentGrant:
    if wanted.kind not in GRANT_KINDS:
        raise ValidationFailed("Choose a department, a role or a member.", field="kind")
    if wanted.level not in GRANT_LEVELS:
        raise ValidationFailed("Choose view or edit.", field="level")
    grant = DocumentGrant(kind=wanted.kind, level=wanted.level)
    if wanted.kind == "department":
        found = wanted.department_id and await session.scalar(
            select(Department.id).where(Department.id == wanted.department_id)
        )
        if not found:
            raise ValidationFailed("Choose a department from the list.", field="department_id")
        grant.department_id = found
        grant.include_subdepartments = wanted.include_subdepartments
    elif wanted.kind == "role":
        if wanted.role in BUILT_IN_ROLES:
            grant.builtin_role = wanted.role
        else:
            try:
                role_id = uuid.UUID(wanted.role or "")
            except ValueError:
                raise ValidationFailed("Choose a role from the list.", field="role") from None
            if await session.scalar(select(Role.id).where(Role.id == role_id)) is None:
                raise ValidationFailed("Choose a role from the list.", field="role")
            grant.role_id = role_id
    else:
        member = wanted.user_id and await session.scalar(
            select(Membership.user_id).where(
                Membership.user_id == wanted.user_id, Membership.active.is_(True)
            )
        )
        if not member:
            raise ValidationFailed("Choose an active member from the list.", field="user_id")
        grant.user_id = member
    return grant


def _subject_key(grant: DocumentGrant) -> tuple[object, ...]:
    return (grant.kind, grant.department_id, grant.builtin_role, grant.role_id, grant.user_id)


def _described(grant: DocumentGrant) -> dict[str, object]:
    """A grant in the audit log."""
    subject = grant.department_id or grant.role_id or grant.user_id or grant.builtin_role
    return {
        "kind": grant.kind,
        "subject": str(subject),
        "level": grant.level,
        "include_subdepartments": grant.include_subdepartments,
    }


async def set_grants(
    session: AsyncSession, actor: Actor, folder_id: uuid.UUID, wanted: Sequence[GrantIn]
) -> list[DocumentGrant]:
    """Replace the folder's own grants (``oa.document.manage``); none makes it follow the
    folder above again. One grant per department, role or member. Audited."""
    actor.require(codes.DOCUMENT_MANAGE)
    folder = await open_folder(session, actor, folder_id, for_update=True)
    made = [await _checked_grant(session, grant) for grant in wanted]
    keys = [_subject_key(grant) for grant in made]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("Each department, role or member is granted once per folder.")
    before = list(
        await session.scalars(select(DocumentGrant).where(DocumentGrant.folder_id == folder.id))
    )
    for old in before:
        await session.delete(old)
    await session.flush()
    for grant in made:
        grant.folder_id = folder.id
    session.add_all(made)
    await session.flush()
    await _audited(
        session,
        actor,
        "oa.document_folder.grants_changed",
        folder,
        {
            "name": folder.name,
            "before": [_described(g) for g in before],
            "after": [_described(g) for g in made],
        },
    )
    return made


def grant_in(grant: DocumentGrant) -> GrantIn:
    """A stored grant as one would ask for it again (to keep it when changing the others)."""
    return GrantIn(
        kind=grant.kind,
        level=grant.level,
        department_id=grant.department_id,
        include_subdepartments=grant.include_subdepartments,
        role=grant.builtin_role or (str(grant.role_id) if grant.role_id else None),
        user_id=grant.user_id,
    )


# --- documents and versions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListedDocument:
    document: Document
    folder_name: str
    version: int  # the current version's number (0: none left)
    size: int
    content_type: str
    updated_at: object  # when the current version was uploaded


def parse_tags(typed: str | Sequence[str]) -> list[str]:
    """Tags typed with commas or spaces between (or a list): lower case, each once."""
    parts = typed.replace(",", " ").replace("，", " ").split() if isinstance(typed, str) else typed
    tags = list(dict.fromkeys(part.strip().lower() for part in parts if part.strip()))
    if len(tags) > MAX_TAGS:
        raise ValidationFailed("At most {max} tags.", max=MAX_TAGS, field="tags")
    if any(len(tag) > TAG_MAX for tag in tags):
        raise ValidationFailed("A tag has at most {max} characters.", max=TAG_MAX, field="tags")
    return tags


def _document_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the document a name.", field="name")
    if len(name) > DOCUMENT_NAME_MAX:
        raise ValidationFailed(
            "A name has at most {max} characters.", max=DOCUMENT_NAME_MAX, field="name"
        )
    return name


async def _documents(
    session: AsyncSession,
    rule: FolderRule,
    *,
    folder_id: uuid.UUID | None = None,
    search: str = "",
    tag: str = "",
) -> list[ListedDocument]:
    """Documents in folders the actor sees: in one folder, or matching a search — one query."""
    current = (
        select(
            DocumentVersion.document_id,
            func.max(DocumentVersion.number).label("number"),
        )
        .group_by(DocumentVersion.document_id)
        .subquery()
    )
    query = (
        select(
            Document,
            DocumentFolder.name,
            func.coalesce(current.c.number, 0),
            func.coalesce(Attachment.size, 0),
            func.coalesce(Attachment.content_type, ""),
            func.coalesce(Attachment.created_at, Document.created_at),
        )
        .join(DocumentFolder, DocumentFolder.id == Document.folder_id)
        .outerjoin(current, current.c.document_id == Document.id)
        .outerjoin(
            DocumentVersion,
            and_(
                DocumentVersion.document_id == Document.id,
                DocumentVersion.number == current.c.number,
            ),
        )
        .outerjoin(Attachment, Attachment.id == DocumentVersion.attachment_id)
        .where(rule.allows(DocumentFolder))
        .order_by(func.lower(Document.name), Document.id)
    )
    if folder_id is not None:
        query = query.where(Document.folder_id == folder_id)
    else:
        query = query.limit(SEARCH_LIMIT)
    if search.strip():
        query = query.where(Document.name.ilike(f"%{_escaped(search.strip())}%", escape="\\"))
    if tag.strip():
        query = query.where(Document.tags.contains([tag.strip().lower()]))
    return [ListedDocument(*row) for row in (await session.execute(query)).all()]


def _escaped(typed: str) -> str:
    return typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(
    session: AsyncSession, actor: Actor, *, name: str = "", tag: str = ""
) -> list[ListedDocument]:
    """Documents whose name holds ``name`` (any case) and that carry ``tag``, in every
    folder the actor may see (at most :data:`SEARCH_LIMIT`)."""
    if not name.strip() and not tag.strip():
        return []
    rule = await folder_rule(session, actor)
    return await _documents(session, rule, search=name, tag=tag)


async def open_document(
    session: AsyncSession,
    actor: Actor,
    document_id: uuid.UUID,
    *,
    level: str = "view",
    for_update: bool = False,
) -> Document:
    """The document, if the actor may see its folder (else 404) and for ``edit`` change it."""
    query = select(Document).where(Document.id == document_id)
    document = await session.scalar(query.with_for_update() if for_update else query)
    if document is None:
        raise NotFound(MISSING_DOCUMENT, id=str(document_id))
    try:
        await open_folder(session, actor, document.folder_id, level=level)
    except NotFound:
        raise NotFound(MISSING_DOCUMENT, id=str(document_id)) from None
    return document


async def check_visible(session: AsyncSession, actor: Actor, document_id: uuid.UUID) -> None:
    """The record type's check (core's attachment and notification endpoints)."""
    await open_document(session, actor, document_id)


async def _attach(
    session: AsyncSession,
    store: FileStore,
    actor: Actor,
    document_id: uuid.UUID,
    file_name: str,
    data: bytes | BinaryIO,
    declared_type: str | None,
) -> Attachment:
    """Check and store a version's file (core's attachments); a refusal names the file input."""
    if not file_name.strip():
        raise ValidationFailed("Choose a file to upload.", field="file")
    try:
        return await attachments.attach(
            session, store, RECORD, document_id, file_name, data, declared_type, actor.user_id
        )
    except ValidationFailed as refused:
        raise ValidationFailed(refused.message, **{**refused.params, "field": "file"}) from None


def _version(
    actor: Actor, document_id: uuid.UUID, number: int, file: Attachment
) -> DocumentVersion:
    return DocumentVersion(
        document_id=document_id, number=number, attachment_id=file.id, created_by=actor.user_id
    )


async def upload(
    session: AsyncSession,
    store: FileStore,
    actor: Actor,
    folder_id: uuid.UUID,
    file_name: str,
    data: bytes | BinaryIO,
    declared_type: str | None,
    *,
    name: str = "",
    tags: str | Sequence[str] = (),
) -> Document:
    """A new document (version 1) in a folder the actor may edit, named after its file unless
    ``name`` is given. The file is checked by its bytes (an ``.exe`` renamed ``.pdf`` is
    refused, 422); a refused upload writes nothing."""
    folder = await open_folder(session, actor, folder_id, level="edit")
    wanted = parse_tags(tags)
    typed_name = _document_name(name) if name.strip() else None
    document_id = uuid7()
    file = await _attach(session, store, actor, document_id, file_name, data, declared_type)
    document = Document(
        id=document_id,
        folder_id=folder.id,
        name=typed_name or file.file_name,
        tags=wanted,
        created_by=actor.user_id,
    )
    session.add(document)
    await session.flush()
    session.add(_version(actor, document.id, 1, file))
    await session.flush()
    return document


async def upload_version(
    session: AsyncSession,
    store: FileStore,
    actor: Actor,
    document_id: uuid.UUID,
    file_name: str,
    data: bytes | BinaryIO,
    declared_type: str | None,
) -> DocumentVersion:
    """The next version of a document (the others are kept); the row lock numbers two
    uploads at once 2 and 3."""
    document = await open_document(session, actor, document_id, level="edit", for_update=True)
    last = await session.scalar(
        select(func.max(DocumentVersion.number)).where(DocumentVersion.document_id == document.id)
    )
    return await _add_version(
        session, store, actor, document, (last or 0) + 1, file_name, data, declared_type
    )


async def _add_version(
    session: AsyncSession,
    store: FileStore,
    actor: Actor,
    document: Document,
    number: int,
    file_name: str,
    data: bytes | BinaryIO,
    declared_type: str | None,
) -> DocumentVersion:
    """Version ``number`` of a document whose row the caller has locked, with its file."""
    file = await _attach(session, store, actor, document.id, file_name, data, declared_type)
    version = _version(actor, document.id, number, file)
    session.add(version)
    await session.flush()
    return version


async def change_document(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID, *, name: str, tags: str
) -> Document:
    document = await open_document(session, actor, document_id, level="edit", for_update=True)
    document.name, document.tags = _document_name(name), parse_tags(tags)
    await session.flush()
    return document


async def move_document(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID, folder_id: uuid.UUID | None
) -> Document:
    """Put a document, with its versions, into another folder the actor may change; it then
    follows that folder's grants. Audited."""
    document = await open_document(session, actor, document_id, level="edit", for_update=True)
    if folder_id is None:
        raise ValidationFailed("Choose the folder to move it to.", field="folder_id")
    target = await open_folder(session, actor, folder_id, level="edit")
    moved_from = document.folder_id
    if target.id == moved_from:
        return document
    document.folder_id = target.id
    await session.flush()
    await _audited(
        session,
        actor,
        "oa.document.moved",
        document,
        {"name": document.name, "from": str(moved_from), "to": str(target.id)},
    )
    return document


async def restore_version(
    session: AsyncSession, store: FileStore, actor: Actor, document_id: uuid.UUID, number: int
) -> DocumentVersion:
    """An earlier version made current again (恢复版本), as Feishu and DingTalk's drives do:
    a new version, the next number, with a copy of that version's file; nothing is lost."""
    document = await open_document(session, actor, document_id, level="edit", for_update=True)
    found = await session.execute(
        select(DocumentVersion.number, DocumentVersion.attachment_id).where(
            DocumentVersion.document_id == document.id
        )
    )
    attachments_of = dict(found.all())
    if number not in attachments_of:
        raise NotFound("The document has no version {number}.", number=str(number))
    last = max(attachments_of)
    if number == last:
        raise Conflict("Version {number} is the current one already.", number=str(number))
    kept, chunks = await attachments.open_attachment(session, store, attachments_of[number])
    data = b"".join([chunk async for chunk in chunks])
    return await _add_version(
        session, store, actor, document, last + 1, kept.file_name, data, kept.content_type
    )


async def delete_document(session: AsyncSession, actor: Actor, document_id: uuid.UUID) -> None:
    """Delete a document and its versions; their files are left to core's orphan sweep."""
    document = await open_document(session, actor, document_id, level="edit", for_update=True)
    for attachment_id in await session.scalars(
        select(DocumentVersion.attachment_id).where(DocumentVersion.document_id == document.id)
    ):
        await attachments.delete_attachment(session, attachment_id)
    await session.delete(document)
    await session.flush()
    await _audited(
        session,
        actor,
        "oa.document.deleted",
        document,
        {"name": document.name, "folder_id": str(document.folder_id)},
    )


@dataclass(frozen=True, slots=True)
class VersionShown:
    version: DocumentVersion
    attachment: Attachment
    uploaded_by: str


async def versions(
    session: AsyncSession, actor: Actor, document_id: uuid.UUID
) -> list[VersionShown]:
    """Every version of the document, newest first, with its file, who and when."""
    document = await open_document(session, actor, document_id)
    rows = await session.execute(
        select(DocumentVersion, Attachment, User.display_name)
        .join(Attachment, Attachment.id == DocumentVersion.attachment_id)
        .join(User, User.id == DocumentVersion.created_by)
        .where(DocumentVersion.document_id == document.id)
        .order_by(DocumentVersion.number.desc())
    )
    return [VersionShown(*row) for row in rows.all()]


def previewable(attachment: Attachment) -> bool:
    """Whether the file is shown in the page (images, PDFs); by its detected type."""
    kind = next(
        (k for k in attachments.KINDS.values() if k.content_type == attachment.content_type), None
    )
    return kind is not None and kind.key in PREVIEW_KINDS


async def open_version(
    session: AsyncSession,
    store: FileStore,
    actor: Actor,
    document_id: uuid.UUID,
    number: int | None = None,
    *,
    preview: bool = False,
) -> tuple[Attachment, AsyncIterator[bytes]]:
    """A version's file and its bytes (``number`` None: the current one). With ``preview``,
    only an image or a PDF (anything else is downloaded, not shown: 404)."""
    document = await open_document(session, actor, document_id)
    query = select(DocumentVersion.attachment_id).where(DocumentVersion.document_id == document.id)
    if number is None:
        query = query.order_by(DocumentVersion.number.desc()).limit(1)
    else:
        query = query.where(DocumentVersion.number == number)
    attachment_id = await session.scalar(query)
    if attachment_id is None:
        raise NotFound("The document has no version {number}.", number=str(number or ""))
    attachment, chunks = await attachments.open_attachment(session, store, attachment_id)
    if preview and not previewable(attachment):
        raise NotFound("This file cannot be shown in the page; download it.")
    return attachment, chunks
