"""Members of a workspace: deactivation and reactivation.

A deactivated member keeps their history (the membership row, the records
they own, their audit entries) and loses the workspace at once: the request
guard admits only active memberships (``core_resolve_request``), and their
API tokens for this workspace are revoked, so reactivation does not bring
them back. Their browser sessions stay: a session belongs to the person, not
to the workspace, and may serve their other workspaces; here it now opens
nothing. A workspace always keeps an active owner, and nobody deactivates
themselves (ask another admin, so a slip cannot lock the last admin out).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.members import members_changed
from core import audit, roles
from core.errors import Conflict, NotFound
from core.events import Event, publish
from core.identity import api_tokens
from core.models import Membership


class MemberDeactivated(Event, frozen=True, kw_only=True):
    """A member left the workspace: modules hand over what waits for them (OA's approvals)."""

    type_name = "core.member_deactivated.v1"

    membership_id: uuid.UUID
    user_id: uuid.UUID


async def deactivate_member(
    session: AsyncSession, membership_id: uuid.UUID, *, by: uuid.UUID
) -> Membership:
    """Take the workspace away from a member, keeping their history; twice changes nothing."""
    # Lock the active owners first, then the member, as core.roles does: two admins
    # deactivating the last two owners at once are serialised on the same rows.
    owners = list(
        await session.scalars(
            select(Membership.id)
            .where(Membership.role == roles.OWNER, Membership.active.is_(True))
            .with_for_update()
        )
    )
    member = await _member(session, membership_id)
    if member.user_id == by:
        raise Conflict("You cannot deactivate yourself.")
    if not member.active:
        return member
    if owners == [member.id]:
        raise Conflict("A workspace needs at least one owner.")
    member.active = False
    await session.flush()
    await members_changed(session)
    tokens_revoked = await api_tokens.revoke_all(session, member.id)
    await publish(session, MemberDeactivated(membership_id=member.id, user_id=member.user_id))
    await audit.record(
        session,
        "core.member.deactivated",
        actor_id=by,
        subject_type="core.membership",
        subject_id=member.id,
        detail={"api_tokens_revoked": tokens_revoked},
    )
    return member


async def reactivate_member(
    session: AsyncSession, membership_id: uuid.UUID, *, by: uuid.UUID
) -> Membership:
    """Give a deactivated member the workspace back, with the roles they had."""
    member = await _member(session, membership_id)
    if not member.active:
        member.active = True
        await session.flush()
        await members_changed(session)
        await audit.record(
            session,
            "core.member.reactivated",
            actor_id=by,
            subject_type="core.membership",
            subject_id=member.id,
        )
    return member


async def _member(session: AsyncSession, membership_id: uuid.UUID) -> Membership:
    member = await session.scalar(
        select(Membership).where(Membership.id == membership_id).with_for_update()
    )
    if member is None:
        raise NotFound("No member {id}.", id=str(membership_id))
    return member
