"""Deleting a workspace: by an owner, after typing its address; restorable for a while.

The owner types the workspace's slug to confirm (the address, exactly as it is). The
workspace is then ``deleted``: every member's next request, page or API, gets the
"this workspace was deleted" answer (:class:`~core.errors.TenantDeleted`, 403) with the
date until which support can restore it (:data:`GRACE`). Nothing is removed yet: the
operator's console can restore it (:func:`tenants.operator.reactivate`) until
``purge_after``; after that, the daily platform job (:mod:`core.workspace.purge`)
removes its rows and files for good.

Deletion, restoration and the purge are written to the global security log as well as
the workspace's audit log: the latter goes away with the workspace.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.context import TenantContext
from core.errors import PermissionDenied, TenantDeleted, ValidationFailed
from core.i18n import N_
from core.models import Membership, SecurityEvent, Tenant
from core.permissions import Actor
from core.workspace.export import cancel_exports
from core.workspace.purge import DELETED

GRACE = timedelta(days=30)
OWNER = "owner"
WORKSPACE_DELETED = "core.workspace.deleted"
WORKSPACE_RESTORED = "core.workspace.restored"
DELETED_MESSAGE = N_(
    "This workspace was deleted. It can be restored until {restorable_until} by "
    "contacting support; after that its data is removed for good."
)


async def is_owner(session: AsyncSession, user_id: uuid.UUID | None) -> bool:
    """Whether the user is an active owner of the session's workspace."""
    role = await session.scalar(
        select(Membership.role).where(Membership.user_id == user_id, Membership.active)
    )
    return role == OWNER


async def delete_workspace(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    typed_slug: str,
    *,
    ip: str | None = None,
) -> Tenant:
    """Mark the workspace deleted (owners only, the slug typed exactly); returns its row."""
    if not await is_owner(session, actor.user_id):
        raise PermissionDenied("Only an owner can delete the workspace.")
    if typed_slug.strip() != tenant.slug:
        raise ValidationFailed(
            "Type the workspace's address {slug} exactly to confirm.",
            slug=tenant.slug,
            field="confirm_slug",
        )
    row = await session.scalar(
        select(Tenant).where(Tenant.id == tenant.tenant_id).with_for_update()
    )
    assert row is not None  # the request resolved it
    now = datetime.now(UTC)
    row.status, row.deleted_at, row.purge_after = DELETED, now, now + GRACE
    await cancel_exports(session, "the workspace was deleted")
    detail = {"purge_after": row.purge_after.isoformat()}
    await audit.record(
        session,
        WORKSPACE_DELETED,
        actor_id=actor.user_id,
        subject_type="core.tenant",
        subject_id=tenant.tenant_id,
        detail=detail,
        ip=ip,
    )
    session.add(
        SecurityEvent(
            action=WORKSPACE_DELETED,
            user_id=actor.user_id,
            ip=ip,
            detail={"tenant_id": str(tenant.tenant_id), "slug": tenant.slug, **detail},
        )
    )
    await session.flush()
    return row


async def deleted_notice(session: AsyncSession, tenant_id: uuid.UUID) -> TenantDeleted:
    """The answer a deleted workspace gives its members: until when it can be restored."""
    purge_after = await session.scalar(select(Tenant.purge_after).where(Tenant.id == tenant_id))
    until = (purge_after or datetime.now(UTC)).date().isoformat()
    return TenantDeleted(DELETED_MESSAGE, restorable_until=until)


def restore(
    session: AsyncSession, tenant: Tenant, *, operator_id: uuid.UUID, ip: str | None
) -> None:
    """Bring a deleted workspace back as it was (the operator's console, before the purge)."""
    tenant.deleted_at = tenant.purge_after = None
    session.add(
        SecurityEvent(
            action=WORKSPACE_RESTORED,
            ip=ip,
            detail={
                "tenant_id": str(tenant.id),
                "slug": tenant.slug,
                "operator_id": str(operator_id),
            },
        )
    )
