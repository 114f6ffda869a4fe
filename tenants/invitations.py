"""Invitations: a workspace admin invites someone by e-mail to join with chosen roles.

The mail carries the link ``{BASE_URL}/invitations/{token}``; the database
keeps the token's SHA-256. An invitation expires (after seven days unless
told otherwise), can be revoked, and is accepted once, by a signed-in user
whose address is the invited one, ignoring case. Accepting creates the
membership, or reactivates a deactivated one, with the invited roles.

Inviting an address that has a pending invitation replaces it (the old
link stops working: "resend" in Odoo's words); inviting an active member is
a conflict. ``role_keys`` holds one built-in role (admin or member; an owner
hands over ownership once the person has joined) and the ids of any custom
roles, which are granted if they still exist when the invitation is accepted.

The link names no workspace: ``core_invitation_tenant`` (SECURITY DEFINER,
migration core_0010) turns a token's hash into its tenant id, a key and
nothing more, and the acceptance then runs as that tenant under RLS.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, Index, String, Uuid, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from billing.members import members_changed
from core import audit, roles
from core.context import TenantContext
from core.db import add_unique, set_tenant
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.i18n import N_, use_locale, when
from core.identity.accounts import by_email, normalise_email
from core.identity.sessions import digest
from core.mail import Mailer, compose, send_after_commit
from core.models import Membership, Role, Tenant, User
from core.orm import TenantModel
from core.settings import Settings

DEFAULT_VALIDITY = timedelta(days=7)
INVITABLE_ROLES = (roles.ADMIN, roles.MEMBER)
ACCEPT_PATH = "/invitations/"

INVITE_SUBJECT = N_("{inviter} invited you to {workspace} on Atrium")
INVITE_BODY = N_(
    "Hello,\n\n"
    "{inviter} invited you to join the workspace {workspace} on Atrium. "
    "To accept, open this link and sign in, or create an account, with this "
    "e-mail address ({email}):\n\n"
    "{link}\n\n"
    "The invitation expires on {date}. If you were not expecting it, ignore this message."
)


class Invitation(TenantModel):
    """An invitation to join the workspace; only the link token's SHA-256 is stored."""

    __tablename__ = "core_invitation"
    __table_args__ = (
        # One pending invitation per address: a second one replaces it (see invite).
        Index(
            "uq_core_invitation_pending_email",
            "tenant_id",
            func.lower(text("email")),
            unique=True,
            postgresql_where=text("accepted_at IS NULL AND revoked_at IS NULL"),
        ),
    )

    email: Mapped[str] = mapped_column(String(320))
    role_keys: Mapped[list[str]] = mapped_column(ARRAY(String(63)))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def invite(
    session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    tenant: TenantContext,
    *,
    email: str,
    invited_by: uuid.UUID,
    role_keys: Sequence[str] = (roles.MEMBER,),
    valid_for: timedelta = DEFAULT_VALIDITY,
) -> tuple[str, Invitation]:
    """Invite ``email``; mails the link and returns its token (shown once) and the invitation."""
    email = normalise_email(email)
    keys = await _check_role_keys(session, role_keys)
    if valid_for <= timedelta(0):
        raise ValidationFailed("An invitation must be valid for some time.")
    existing = await by_email(session, email)
    if existing is not None:
        member = await session.scalar(select(Membership).where(Membership.user_id == existing.id))
        if member is not None and member.active:
            raise Conflict("{email} is already a member of this workspace.", email=email)
    now = await session.scalar(select(func.now()))
    await session.execute(
        update(Invitation)
        .where(
            func.lower(Invitation.email) == email.lower(),
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        email=email,
        role_keys=keys,
        token_hash=digest(token),
        invited_by=invited_by,
        expires_at=now + valid_for,
    )
    if not await add_unique(session, invitation):
        raise Conflict("{email} has just been invited by someone else.", email=email)
    await audit.record(
        session,
        "core.member.invited",
        actor_id=invited_by,
        subject_type="core.invitation",
        subject_id=invitation.id,
        detail={"email": email, "roles": keys},
    )
    workspace = await session.get(Tenant, tenant.tenant_id)
    inviter = await session.get(User, invited_by)
    assert workspace is not None
    assert inviter is not None
    locale = existing.locale if existing is not None else tenant.locale
    with use_locale(locale):
        expires_on = when(invitation.expires_at.date())
    message = compose(
        email,
        locale,
        INVITE_SUBJECT,
        INVITE_BODY,
        inviter=inviter.display_name,
        workspace=workspace.name,
        email=email,
        link=f"{settings.base_url}{ACCEPT_PATH}{token}",
        date=expires_on,
    )
    send_after_commit(session, mailer, message)
    return token, invitation


async def _check_role_keys(session: AsyncSession, role_keys: Sequence[str]) -> list[str]:
    """One built-in role an invitation may give, first, then existing custom role ids."""
    keys = list(dict.fromkeys(key.strip() for key in role_keys))
    built_in = [key for key in keys if key in roles.BUILT_IN_ROLES]
    if roles.OWNER in built_in:
        raise ValidationFailed(
            "An invitation cannot make someone an owner; an owner can hand the role over "
            "once they have joined."
        )
    if len(built_in) != 1:
        raise ValidationFailed("Choose one of Admin or Member for the invited person.")
    custom: list[uuid.UUID] = []
    for key in keys:
        if key in roles.BUILT_IN_ROLES:
            continue
        try:
            custom.append(uuid.UUID(key))
        except ValueError:
            raise ValidationFailed("Unknown role {role}.", role=key) from None
    found = set(await session.scalars(select(Role.id).where(Role.id.in_(custom))))
    missing = [role_id for role_id in custom if role_id not in found]
    if missing:
        raise NotFound("No role {id}.", id=str(missing[0]))
    return [built_in[0], *map(str, custom)]


async def pending(session: AsyncSession) -> list[Invitation]:
    """The workspace's invitations still waiting for an answer, newest first."""
    rows = await session.scalars(
        select(Invitation)
        .where(
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > func.now(),
        )
        .order_by(Invitation.id.desc())
    )
    return list(rows)


async def revoke(session: AsyncSession, invitation_id: uuid.UUID, *, by: uuid.UUID) -> Invitation:
    """Withdraw an invitation: its link stops working. Revoking twice changes nothing."""
    invitation = await session.scalar(
        select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    )
    if invitation is None:
        raise NotFound("No invitation {id}.", id=str(invitation_id))
    if invitation.accepted_at is not None:
        raise Conflict("This invitation has already been accepted.")
    if invitation.revoked_at is None:
        invitation.revoked_at = await session.scalar(select(func.now()))
        await session.flush()
        await audit.record(
            session,
            "core.member.invitation_revoked",
            actor_id=by,
            subject_type="core.invitation",
            subject_id=invitation.id,
            detail={"email": invitation.email},
        )
    return invitation


async def find(session: AsyncSession, token: str, *, lock: bool = False) -> Invitation:
    """The live invitation behind a link's token; the session then works in its workspace.

    For the acceptance page (which shows the workspace and the invited
    address) and for :func:`accept`. Refuses a link that is unknown, revoked,
    accepted or expired, each with its own message and ``reason``.
    """
    token_hash = digest(token)
    tenant_id = await session.scalar(select(func.core_invitation_tenant(token_hash, type_=Uuid)))
    if tenant_id is None:
        raise ValidationFailed("This invitation link is not valid.", reason="invalid")
    await set_tenant(session, tenant_id)
    query = select(Invitation, func.now()).where(Invitation.token_hash == token_hash)
    found = (await session.execute(query.with_for_update(of=Invitation) if lock else query)).one()
    invitation, now = found
    if invitation.revoked_at is not None:
        raise ValidationFailed("This invitation has been withdrawn.", reason="revoked")
    if invitation.accepted_at is not None:
        raise ValidationFailed("This invitation has already been accepted.", reason="used")
    if invitation.expires_at <= now:
        raise ValidationFailed("This invitation has expired. Ask for a new one.", reason="expired")
    return invitation


async def accept(session: AsyncSession, token: str, user: User) -> Membership:
    """Join the invitation's workspace as ``user``, whose address must be the invited one."""
    invitation = await find(session, token, lock=True)
    if invitation.email.lower() != user.email.lower():
        raise PermissionDenied(
            "This invitation was sent to another e-mail address. "
            "Sign in with that address to accept it."
        )
    member = await session.scalar(
        select(Membership).where(Membership.user_id == user.id).with_for_update()
    )
    if member is not None and member.active:
        raise Conflict("You are already a member of this workspace.")
    base_role, *custom = invitation.role_keys
    if member is None:
        member = Membership(user_id=user.id, role=base_role)
        if not await add_unique(session, member):
            raise Conflict("You are already a member of this workspace.")
    else:
        member.active = True
    wanted = [uuid.UUID(key) for key in custom]
    still_there = list(await session.scalars(select(Role.id).where(Role.id.in_(wanted))))
    await roles.set_member_roles(
        session,
        member.id,
        base_role=base_role,
        role_ids=still_there,
        actor_id=invitation.invited_by,
    )
    now = await session.scalar(select(func.now()))
    invitation.accepted_at, invitation.accepted_by = now, user.id
    # The link reached this address: it is proven, as a verification link would prove it.
    await session.execute(
        update(User)
        .where(User.id == user.id, User.email_verified_at.is_(None))
        .values(email_verified_at=now)
    )
    await session.flush()
    await members_changed(session)
    await audit.record(
        session,
        "core.member.joined",
        actor_id=user.id,
        subject_type="core.membership",
        subject_id=member.id,
        detail={"invitation_id": str(invitation.id), "invited_by": str(invitation.invited_by)},
    )
    return member
