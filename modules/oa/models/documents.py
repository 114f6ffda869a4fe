"""OA documents (文档/云盘): a tree of folders, who may see and edit each folder, and files
with versions. A version's bytes are a core attachment (record type ``oa.document``), so
core's file store, its type checks, the orphan sweep and the workspace export all know them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import TenantModel, tenant_ref

GRANT_KINDS = ("department", "role", "member")
GRANT_LEVELS = ("view", "edit")
FOLDER_NAME_MAX = 120
DOCUMENT_NAME_MAX = 255


class DocumentFolder(TenantModel):
    """A folder; ``parent_id`` None is the top level. ``path`` is the materialised path of
    ids (``/a/b/``, as core's departments have), so "this folder and every one above it"
    and "everything below it" are prefix matches."""

    __tablename__ = "oa_document_folder"
    __table_args__ = (
        # Names are unique among siblings, ignoring case; the top level is one set of siblings.
        Index(
            "uq_oa_document_folder_sibling_name",
            "tenant_id",
            text("coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid)"),
            text("lower(name)"),
            unique=True,
        ),
        Index("ix_oa_document_folder_path", "tenant_id", "path"),
    )

    parent_id: Mapped[uuid.UUID | None] = tenant_ref("oa_document_folder", nullable=True)
    name: Mapped[str] = mapped_column(String(FOLDER_NAME_MAX))
    path: Mapped[str] = mapped_column(String(1000))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))


class DocumentGrant(TenantModel):
    """Who may see (``view``) or also change (``edit``) a folder and what is below it, until
    a folder below has grants of its own: a department (with ``include_subdepartments``,
    those below it too), a role (built-in by ``builtin_role``, or a custom ``role_id``),
    or a member (``user_id``)."""

    __tablename__ = "oa_document_grant"
    __table_args__ = (
        CheckConstraint(f"kind IN {GRANT_KINDS}", name="kind"),
        CheckConstraint(f"level IN {GRANT_LEVELS}", name="level"),
        CheckConstraint(
            "(kind = 'department' AND department_id IS NOT NULL)"
            " OR (kind = 'role' AND (role_id IS NOT NULL) <> (builtin_role IS NOT NULL))"
            " OR (kind = 'member' AND user_id IS NOT NULL)",
            name="subject",
        ),
    )

    folder_id: Mapped[uuid.UUID] = tenant_ref("oa_document_folder", ondelete="CASCADE")
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(10))
    department_id: Mapped[uuid.UUID | None] = tenant_ref(
        "core_department", nullable=True, ondelete="CASCADE", index=False
    )
    include_subdepartments: Mapped[bool] = mapped_column(Boolean, default=False)
    role_id: Mapped[uuid.UUID | None] = tenant_ref(
        "core_role", nullable=True, ondelete="CASCADE", index=False
    )
    builtin_role: Mapped[str | None] = mapped_column(String(20))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE")
    )


class Document(TenantModel):
    """A file in a folder: its name, tags (lower case) and versions."""

    __tablename__ = "oa_document"
    __table_args__ = (Index("ix_oa_document_tags", "tags", postgresql_using="gin"),)

    folder_id: Mapped[uuid.UUID] = tenant_ref("oa_document_folder")
    name: Mapped[str] = mapped_column(String(DOCUMENT_NAME_MAX))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))


class DocumentVersion(TenantModel):
    """Version ``number`` of a document (1, 2, …): its bytes are the core attachment
    ``attachment_id``; the highest number is the current version."""

    __tablename__ = "oa_document_version"
    __table_args__ = (UniqueConstraint("tenant_id", "document_id", "number"),)

    document_id: Mapped[uuid.UUID] = tenant_ref("oa_document", ondelete="CASCADE", index=False)
    number: Mapped[int] = mapped_column(Integer)
    attachment_id: Mapped[uuid.UUID] = tenant_ref("core_attachment", ondelete="CASCADE")
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
