"""The workspace's people: members, invitations, deactivation, as JSON and as a page.

Mounted with ``workspace_routers``, so every route is behind the tenant
guard. Reading the list needs ``core.member.read`` (every member has it);
inviting, revoking, deactivating and reactivating need ``core.member.manage``.
A member's picture is shown to the workspace's members (``core.member.read``).
The invitation link goes out by mail only and never appears in an answer:
it proves the invited address, so whoever holds it can create that
address's account and join.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Stream, Template
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER
from sqlalchemy import and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core import roles
from core.context import TenantContext
from core.errors import DomainError, NotFound, ValidationFailed
from core.models import Department, Membership, User
from core.permissions import Actor
from core.records.storage import file_store
from tenants import invitations, members
from tenants.invitations import Invitation
from web.account import avatar_response
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.recovery import mailer
from web.tenancy import requires

READ, MANAGE = "core.member.read", "core.member.manage"
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200


class MemberOut(msgspec.Struct):
    id: uuid.UUID  # the membership's id: what deactivate, reactivate and roles take
    user_id: uuid.UUID
    display_name: str
    email: str
    role: str
    active: bool
    department_id: uuid.UUID | None
    department: str | None
    joined_at: datetime


class MemberPage(msgspec.Struct):
    """One page by name; pass ``next_cursor`` back as ``after`` for the next, None at the end."""

    items: list[MemberOut]
    next_cursor: uuid.UUID | None


class InvitationIn(msgspec.Struct):
    email: str
    # One built-in role (admin or member) and the ids of any custom roles.
    role_keys: list[str] = msgspec.field(default_factory=lambda: [roles.MEMBER])


class InvitationOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    role_keys: list[str]
    invited_by: uuid.UUID | None
    created_at: datetime
    expires_at: datetime


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_NAME_KEY = func.lower(User.display_name)
_MEMBERS = (
    select(Membership, User.display_name, User.email, Department.name)
    .join(User, User.id == Membership.user_id)
    .outerjoin(
        Department,
        and_(
            Department.tenant_id == Membership.tenant_id,
            Department.id == Membership.department_id,
        ),
    )
    .order_by(_NAME_KEY, Membership.id)
)


def _member_out(row: Any) -> MemberOut:
    member, name, email, department = row
    return MemberOut(
        id=member.id,
        user_id=member.user_id,
        display_name=name,
        email=email,
        role=member.role,
        active=member.active,
        department_id=member.department_id,
        department=department,
        joined_at=member.created_at,
    )


async def member_page(
    session: AsyncSession,
    *,
    search: str = "",
    active: bool | None = None,
    department_id: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    limit: int = PAGE_SIZE,
) -> MemberPage:
    """Members by name (then id), active and deactivated unless ``active`` says which.

    ``search`` matches a part of the name or e-mail address; ``after`` is the
    last membership id of the previous page (the keyset cursor).
    """
    limit = min(max(limit, 1), MAX_PAGE_SIZE)
    query = _MEMBERS.limit(limit + 1)
    if search.strip():
        pattern = _like(search.strip())
        query = query.where(or_(User.display_name.ilike(pattern), User.email.ilike(pattern)))
    if active is not None:
        query = query.where(Membership.active.is_(active))
    if department_id is not None:
        query = query.where(Membership.department_id == department_id)
    if after is not None:
        after_name = await session.scalar(
            select(_NAME_KEY)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.id == after)
        )
        if after_name is None:
            raise ValidationFailed("This page link is no longer valid.")
        query = query.where(
            tuple_(_NAME_KEY, Membership.id) > tuple_(literal(after_name), literal(after))
        )
    rows = (await session.execute(query)).all()
    items = [_member_out(row) for row in rows[:limit]]
    return MemberPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


async def _one_member(session: AsyncSession, membership_id: uuid.UUID) -> MemberOut:
    row = (await session.execute(_MEMBERS.where(Membership.id == membership_id))).one()
    return _member_out(row)


def _invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role_keys=invitation.role_keys,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


# --- JSON API -------------------------------------------------------------------------------


@get("/members", guards=[requires(READ)], summary="Members by name, with search and filters")
async def list_members(
    session: DbSession,
    q: FromQuery[str] = "",
    active: FromQuery[bool | None] = None,
    department_id: FromQuery[uuid.UUID | None] = None,
    after: FromQuery[uuid.UUID | None] = None,
    limit: FromQuery[int] = PAGE_SIZE,
) -> MemberPage:
    return await member_page(
        session, search=q, active=active, department_id=department_id, after=after, limit=limit
    )


@post(
    "/invitations",
    guards=[requires(MANAGE)],
    summary="Invite someone by e-mail; the link goes to that address only",
)
async def create_invitation(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: JSONBody[InvitationIn],
) -> InvitationOut:
    _token, invitation = await invitations.invite(
        session,
        request.app.state.settings,
        mailer(request),
        tenant,
        email=data.email,
        invited_by=actor.user_id,
        role_keys=data.role_keys,
    )
    return _invitation_out(invitation)


@get("/invitations", guards=[requires(MANAGE)], summary="Invitations waiting for an answer")
async def list_invitations(session: DbSession) -> list[InvitationOut]:
    return [_invitation_out(invitation) for invitation in await invitations.pending(session)]


@delete(
    "/invitations/{invitation_id:uuid}",
    guards=[requires(MANAGE)],
    summary="Withdraw an invitation; its link stops working",
)
async def revoke_invitation(
    session: DbSession, actor: CurrentActor, invitation_id: FromPath[uuid.UUID]
) -> None:
    await invitations.revoke(session, invitation_id, by=actor.user_id)


@post(
    "/members/{membership_id:uuid}/deactivate",
    guards=[requires(MANAGE)],
    status_code=HTTP_200_OK,
    summary="Take the workspace away from a member, keeping their history",
)
async def deactivate(
    session: DbSession, actor: CurrentActor, membership_id: FromPath[uuid.UUID]
) -> MemberOut:
    await members.deactivate_member(session, membership_id, by=actor.user_id)
    return await _one_member(session, membership_id)


@post(
    "/members/{membership_id:uuid}/reactivate",
    guards=[requires(MANAGE)],
    status_code=HTTP_200_OK,
    summary="Give a deactivated member the workspace back",
)
async def reactivate(
    session: DbSession, actor: CurrentActor, membership_id: FromPath[uuid.UUID]
) -> MemberOut:
    await members.reactivate_member(session, membership_id, by=actor.user_id)
    return await _one_member(session, membership_id)


API = [list_members, create_invitation, list_invitations, revoke_invitation, deactivate, reactivate]


# --- the members page -------------------------------------------------------------------------


async def _page(
    session: AsyncSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    *,
    q: str = "",
    after: uuid.UUID | None = None,
    error: DomainError | None = None,
    invite: dict[str, str] | None = None,
) -> Template:
    manages = actor.can(MANAGE)
    return Template(
        "members/index.html",
        context={
            "page": await member_page(session, search=q, after=after),
            "pending": await invitations.pending(session) if manages else [],
            "manages": manages,
            "slug": tenant.slug,
            "me": actor.membership_id,
            "q": q,
            "error": error,
            "invite": invite or {"email": "", "role": roles.MEMBER},
            "invitable_roles": invitations.INVITABLE_ROLES,
        },
        status_code=error.status_code if error else 200,
    )


def _back(tenant: CurrentTenant) -> Redirect:
    return Redirect(f"/t/{tenant.slug}/members", status_code=HTTP_303_SEE_OTHER)


@get("/members", guards=[requires(READ)])
async def members_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    after: FromQuery[uuid.UUID | None] = None,
) -> Template:
    return await _page(session, tenant, actor, q=q, after=after)


@get("/members/{user_id:uuid}/avatar", guards=[requires(READ)])
async def member_avatar(
    request: Request[Any, Any, Any], session: DbSession, user_id: FromPath[uuid.UUID]
) -> Stream:
    """A colleague's picture; 404 for anyone who is not a member of this workspace."""
    user = await session.scalar(
        select(User).join(Membership, Membership.user_id == User.id).where(User.id == user_id)
    )
    if user is None:
        raise NotFound("No member {id}.", id=str(user_id))
    return await avatar_response(file_store(request.app.state.settings), user)


@post("/members/invite", guards=[requires(MANAGE)])
async def invite_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    form = {"email": data.get("email", ""), "role": data.get("role", roles.MEMBER)}
    try:
        await invitations.invite(
            session,
            request.app.state.settings,
            mailer(request),
            tenant,
            email=form["email"],
            invited_by=actor.user_id,
            role_keys=[form["role"]],
        )
    except DomainError as error:
        return await _page(session, tenant, actor, error=error, invite=form)
    return _back(tenant)


async def _then_back(
    session: AsyncSession, tenant: TenantContext, actor: Actor, action: Awaitable[Any]
) -> Response[Any]:
    """Run a form's action; back to the members page, or the page again with the reason."""
    try:
        await action
    except DomainError as error:
        return await _page(session, tenant, actor, error=error)
    return _back(tenant)


@post("/invitations/{invitation_id:uuid}/revoke", guards=[requires(MANAGE)])
async def revoke_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    invitation_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _then_back(
        session, tenant, actor, invitations.revoke(session, invitation_id, by=actor.user_id)
    )


@post("/members/{membership_id:uuid}/deactivate", guards=[requires(MANAGE)])
async def deactivate_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    membership_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _then_back(
        session, tenant, actor, members.deactivate_member(session, membership_id, by=actor.user_id)
    )


@post("/members/{membership_id:uuid}/reactivate", guards=[requires(MANAGE)])
async def reactivate_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    membership_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _then_back(
        session, tenant, actor, members.reactivate_member(session, membership_id, by=actor.user_id)
    )


PAGES = [
    members_page,
    member_avatar,
    invite_from_page,
    revoke_from_page,
    deactivate_from_page,
    reactivate_from_page,
]
