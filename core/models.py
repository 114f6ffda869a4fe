"""Core's tables: tenants and their members, module enablement, the outbox, approvals.

Global tables (marked by :class:`GlobalModel`): ``core_tenant``, ``core_user``,
``core_user_session``, ``core_security_log``, ``core_sign_in_throttle``,
``core_recovery_code``, ``core_schedule_tick``, ``core_operator``. Everything
else is tenant-scoped with row-level security.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import APPEND_ONLY_KEY, GlobalModel, TenantModel, tenant_ref

Money = Numeric(18, 2)


class Tenant(GlobalModel):
    """A workspace. Its slug is the first segment of every workspace URL."""

    __tablename__ = "core_tenant"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active|suspended|deleted
    locale: Mapped[str] = mapped_column(String(10), default="en")
    require_two_factor: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # The company profile (tenants.settings): what documents print in their heading.
    legal_name: Mapped[str | None] = mapped_column(String(200))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    tax_number: Mapped[str | None] = mapped_column(String(30))  # 统一社会信用代码, VAT number
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(300))
    logo: Mapped[str | None] = mapped_column(String(300))  # a stored file's key
    # Deleted by its owner (tenants.deletion): restorable until purge_after, then purged.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purge_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(GlobalModel):
    """A person; one user may belong to many workspaces. E-mail is unique ignoring case."""

    __tablename__ = "core_user"
    __table_args__ = (Index("uq_core_user_email_lower", func.lower(text("email")), unique=True),)

    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    avatar: Mapped[str | None] = mapped_column(String(300))  # a stored attachment's key
    password_hash: Mapped[str | None] = mapped_column(String(200))  # argon2; None: no password
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # set at enrolment
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # a used code never works twice


class RecoveryCode(GlobalModel):
    """A one-time code that stands in for the authenticator; only its SHA-256 is stored."""

    __tablename__ = "core_recovery_code"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserSession(GlobalModel):
    """A signed-in browser. The cookie holds an opaque token; only its SHA-256 is stored."""

    __tablename__ = "core_user_session"
    __table_args__ = (Index("ix_core_user_session_user_id", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # absolute timeout
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # "workspace" (members) or "operator" (platform staff): each area accepts only its own.
    area: Mapped[str] = mapped_column(String(10), default="workspace", server_default="workspace")
    # Password checked, second factor still to come: the session opens nothing yet.
    pending_second_factor: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class Operator(GlobalModel):
    """Platform staff: may sign in to the operator console. Grants nothing inside a tenant."""

    __tablename__ = "core_operator"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("core_user.id", ondelete="CASCADE"), unique=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SignInThrottle(GlobalModel):
    """Failed sign-ins counted per account and per address, and the lockout they cause.

    ``key`` is ``account:<e-mail, lower case>`` or ``ip:<address>``. Failures
    count within a window that starts at the first one; reaching the limit
    locks the key until ``locked_until``.
    """

    __tablename__ = "core_sign_in_throttle"

    key: Mapped[str] = mapped_column(String(400), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SecurityEvent(GlobalModel):
    """A user's security event (sign-in, failure, reset, 2FA change): global, append-only.

    Sign-ins happen before a workspace is chosen, so they live here rather
    than in a tenant's audit log.
    """

    __tablename__ = "core_security_log"
    __table_args__ = (
        Index("ix_core_security_log_user_id_at", "user_id", "at"),
        {"info": {APPEND_ONLY_KEY: True}},
    )

    action: Mapped[str] = mapped_column(String(63))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    email: Mapped[str | None] = mapped_column(String(320))  # as typed, for failures
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Department(TenantModel):
    """A department in the tenant's tree. ``path`` lists the ids from the root, ``/a/b/``.

    The path makes "this department and below" a prefix match, and moving a
    department one UPDATE of its subtree's paths (core.organisation).
    """

    __tablename__ = "core_department"
    __table_args__ = (
        UniqueConstraint("tenant_id", "parent_id", "name", postgresql_nulls_not_distinct=True),
        Index(
            "ix_core_department_tenant_id_path",
            "tenant_id",
            "path",
            postgresql_ops={"path": "text_pattern_ops"},
        ),
    )

    name: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[uuid.UUID | None] = tenant_ref("core_department", nullable=True)
    path: Mapped[str] = mapped_column(Text)


class Position(TenantModel):
    """A job title (销售经理, Accountant), shared by members across departments."""

    __tablename__ = "core_position"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))


class Membership(TenantModel):
    """A user's place in a tenant: role, and where they sit in the organisation.

    ``role`` is the built-in base role (owner, admin or member, defined in
    :mod:`core.roles`); custom roles come on top through :class:`MemberRole`.
    """

    __tablename__ = "core_membership"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20), default="member")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    department_id: Mapped[uuid.UUID | None] = tenant_ref("core_department", nullable=True)
    manager_id: Mapped[uuid.UUID | None] = tenant_ref("core_membership", nullable=True)
    position_id: Mapped[uuid.UUID | None] = tenant_ref("core_position", nullable=True)


class Role(TenantModel):
    """A custom role an admin made: a set of permission codes and a data scope per resource.

    ``scopes`` maps a resource (``crm.opportunity``) to ``own``, ``department``,
    ``department_tree`` or ``all``; a resource not named gets ``all``.
    """

    __tablename__ = "core_role"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(300), default="", server_default="")
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(120)), default=list)
    scopes: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)


class MemberRole(TenantModel):
    """A custom role held by a member (on top of the built-in one)."""

    __tablename__ = "core_member_role"
    __table_args__ = (UniqueConstraint("tenant_id", "membership_id", "role_id"),)

    membership_id: Mapped[uuid.UUID] = tenant_ref(
        "core_membership", ondelete="CASCADE", index=False
    )
    role_id: Mapped[uuid.UUID] = tenant_ref("core_role", ondelete="CASCADE")


class ApiToken(TenantModel):
    """A member's token for the JSON API of one workspace; only its SHA-256 is stored.

    It carries at most the permissions chosen at creation, and never more than
    the member holds at the time of use; it dies with the member's access.
    """

    __tablename__ = "core_api_token"

    membership_id: Mapped[uuid.UUID] = tenant_ref("core_membership", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists to tell tokens apart
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(120)), default=list)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TenantModule(TenantModel):
    """Which modules a tenant has: one row per module ever enabled, kept when disabled.

    Enabled means ``enabled`` and not past ``until``. ``source`` says why:
    trial, paid, granted (by the operator) or development (no billing yet).
    An enabled module is read-only (its pages read, its writes refused) when ``access``
    says so or once ``read_only_from`` has come (a trial's end, a past-due grace's end);
    :mod:`billing.entitlements` writes both.
    """

    __tablename__ = "core_tenant_module"
    __table_args__ = (
        UniqueConstraint("tenant_id", "module_key"),
        CheckConstraint("access IN ('full', 'read_only')", name="access"),
    )

    module_key: Mapped[str] = mapped_column(String(31))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(20), default="development")
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    access: Mapped[str] = mapped_column(String(10), default="full", server_default="full")
    read_only_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxEvent(TenantModel):
    """An event waiting for delivery, written in the transaction that caused it."""

    __tablename__ = "core_outbox"
    __table_args__ = (
        Index(
            "ix_core_outbox_due",
            "available_at",
            postgresql_where=text("delivered_at IS NULL AND dead_at IS NULL"),
        ),
    )

    event_type: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class EventDelivery(TenantModel):
    """One handler's outcome for one event: the processed-marker and the dead letter.

    ``status='done'`` is written in the handler's own transaction, so its
    effect and the marker commit together; a redelivered event skips it.
    """

    __tablename__ = "core_event_delivery"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id", "handler"),
        # The dead letters are few among many deliveries; the operator lists them often.
        Index(
            "ix_core_event_delivery_dead", "finished_at", postgresql_where=text("status = 'dead'")
        ),
    )

    # The unique (tenant_id, event_id, handler) key below serves as the FK's index.
    event_id: Mapped[uuid.UUID] = tenant_ref("core_outbox", ondelete="CASCADE", index=False)
    handler: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(10))  # done | failed | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ScheduleTick(GlobalModel):
    """A scheduled job's firing: one row per (module, job, due time), fanned out once."""

    __tablename__ = "core_schedule_tick"
    __table_args__ = (UniqueConstraint("module_key", "job_key", "due_at"),)

    module_key: Mapped[str] = mapped_column(String(31))
    job_key: Mapped[str] = mapped_column(String(63))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApprovalPolicy(TenantModel):
    """The default rule when no approval engine is on: auto-approve below an amount.

    ``kind`` NULL is the tenant's rule for every kind; a row per kind overrides it.
    ``auto_approve_below`` NULL means every request goes to an admin.
    """

    __tablename__ = "core_approval_policy"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", postgresql_nulls_not_distinct=True),)

    kind: Mapped[str | None] = mapped_column(String(63))
    auto_approve_below: Mapped[Decimal | None] = mapped_column(Money)


class ApprovalRequest(TenantModel):
    """A request for approval of ``kind`` on a module's record, and its decision."""

    __tablename__ = "core_approval_request"
    __table_args__ = (Index("ix_core_approval_request_pending", "tenant_id", "status"),)

    kind: Mapped[str] = mapped_column(String(63))
    subject_type: Mapped[str] = mapped_column(String(63))
    subject_id: Mapped[uuid.UUID]
    amount: Mapped[Decimal | None] = mapped_column(Money)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    engine: Mapped[str] = mapped_column(String(31), default="core")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)


class NumberSeries(TenantModel):
    """How a tenant numbers one document type: ``SO-2026-000123``.

    ``pattern`` is a format string over ``prefix``, ``year``, ``month`` and
    ``seq`` (the counter). Gapless series allocate inside the caller's
    transaction (a rolled-back document gives its number back); others
    allocate in a transaction of their own, so concurrent documents never
    wait on each other, at the price of a gap when one rolls back.
    """

    __tablename__ = "core_number_series"
    __table_args__ = (UniqueConstraint("tenant_id", "doc_type"),)

    doc_type: Mapped[str] = mapped_column(String(63))
    prefix: Mapped[str] = mapped_column(String(20))
    pattern: Mapped[str] = mapped_column(String(100), default="{prefix}-{year}-{seq:06d}")
    gapless: Mapped[bool] = mapped_column(Boolean, default=False)
    yearly_reset: Mapped[bool] = mapped_column(Boolean, default=True)


class NumberCounter(TenantModel):
    """The last number handed out for a series in a period (a year, or 0 without reset)."""

    __tablename__ = "core_number_counter"
    __table_args__ = (UniqueConstraint("tenant_id", "doc_type", "period"),)

    doc_type: Mapped[str] = mapped_column(String(63))
    period: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEntry(TenantModel):
    """One security- or finance-relevant action. Append-only for the app role."""

    __tablename__ = "core_audit_log"
    __table_args__ = (
        Index("ix_core_audit_log_tenant_id_action_at", "tenant_id", "action", "at"),
        {"info": {APPEND_ONLY_KEY: True}},
    )

    action: Mapped[str] = mapped_column(String(63))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    subject_type: Mapped[str | None] = mapped_column(String(63))
    subject_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WorkspaceExport(TenantModel):
    """One export of the whole workspace (core.workspace.export): a zip built by the worker.

    At most one is queued or running per workspace (a partial unique index); ``done`` of
    ``total`` steps is its progress.
    """

    __tablename__ = "core_workspace_export"
    __table_args__ = (
        Index(
            "uq_core_workspace_export_in_progress",
            "tenant_id",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued|running|done|failed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    file_key: Mapped[str | None] = mapped_column(String(300))
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
