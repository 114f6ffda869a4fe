"""Invitations and member deactivation, against the real database and a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from core import audit, mail, roles
from core.context import TenantContext
from core.db import Database
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.identity import accounts, api_tokens, sessions
from core.models import MemberRole, Membership, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tenants import invitations, members
from tenants.invitations import Invitation
from tests.core import test_mail_tokens as mail_tests
from tests.core.test_mail_tokens import Inbox, link_in

# The real SMTP server on loopback and its mailer, shared with the mail tests.
smtp_server, mailer, inbox = mail_tests.smtp_server, mail_tests.mailer, mail_tests.inbox

GOOD = "correct horse battery staple"


async def _user(db: Database, address: str, name: str) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(session, email=address, password=GOOD, display_name=name)


async def _member(db: Database, tenant: TenantContext, user: User, role: str) -> Membership:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        member = Membership(user_id=user.id, role=role)
        session.add(member)
        await session.flush()
        return member


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme-inv")


@pytest.fixture
async def admin(db: Database, acme: TenantContext) -> User:
    user = await _user(db, "grace@acme.test", "Grace")
    await _member(db, acme, user, roles.ADMIN)
    return user


async def _invite(
    db: Database,
    settings: Settings,
    mailer: mail.Mailer,
    tenant: TenantContext,
    by: User,
    address: str,
    role_keys: tuple[str, ...] = (roles.MEMBER,),
) -> tuple[str, Invitation]:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        issued = await invitations.invite(
            session, settings, mailer, tenant, email=address, invited_by=by.id, role_keys=role_keys
        )
    await mail.drain()
    return issued


async def _accept(db: Database, token: str, user: User) -> Membership:
    async with db.global_transaction() as session:
        return await invitations.accept(session, token, user)


async def test_the_invitation_arrives_and_its_link_makes_a_member(
    db: Database,
    settings: Settings,
    mailer: mail.SmtpMailer,
    inbox: Inbox,
    acme: TenantContext,
    admin: User,
) -> None:
    token, invitation = await _invite(db, settings, mailer, acme, admin, "Bea@Example.test")

    [message] = inbox.to("Bea@Example.test")
    assert message["Subject"] == "Grace invited you to Acme-Inv on Atrium"
    link, mailed = link_in(message)
    assert (link, mailed) == (f"{settings.base_url}/invitations/{token}", token)
    assert invitation.token_hash == sessions.digest(token)
    async with db.tenant_transaction(acme.tenant_id) as session:
        [waiting] = await invitations.pending(session)
        assert waiting.expires_at - waiting.created_at == invitations.DEFAULT_VALIDITY

    bea = await _user(db, "bea@example.test", "Bea")  # signs up after reading the mail
    async with db.global_transaction() as session:  # the acceptance page
        shown = await invitations.find(session, mailed)
        assert (shown.email, shown.tenant_id) == ("Bea@Example.test", acme.tenant_id)
    member = await _accept(db, mailed, bea)

    assert (member.tenant_id, member.user_id, member.role, member.active) == (
        acme.tenant_id,
        bea.id,
        roles.MEMBER,
        True,
    )
    async with db.tenant_transaction(acme.tenant_id) as session:
        accepted = await session.get(Invitation, (acme.tenant_id, invitation.id))
        assert accepted is not None
        assert accepted.accepted_by == bea.id
        assert await invitations.pending(session) == []
        actions = {e.action for e in await audit.entries(session)}
        assert {"core.member.invited", "core.member.joined"} <= actions
    async with db.global_transaction() as session:
        verified = await session.get(User, bea.id)
        assert verified is not None
        assert verified.email_verified_at is not None


async def test_an_invitation_is_accepted_once(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    token, _invitation = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    bea = await _user(db, "bea@example.test", "Bea")
    await _accept(db, token, bea)

    with pytest.raises(ValidationFailed, match="already been accepted") as refused:
        await _accept(db, token, bea)
    assert refused.value.params == {"reason": "used"}


async def test_of_two_concurrent_acceptances_one_wins(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    token, _invitation = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    bea = await _user(db, "bea@example.test", "Bea")
    both_inside = asyncio.Barrier(2)

    async def accept() -> Membership:
        async with db.global_transaction() as session:
            await session.execute(select(1))
            await both_inside.wait()
            return await invitations.accept(session, token, bea)

    results = await asyncio.gather(accept(), accept(), return_exceptions=True)

    assert sorted(type(r).__name__ for r in results) == ["Membership", "ValidationFailed"]
    async with db.tenant_transaction(acme.tenant_id) as session:
        joined = await session.scalars(select(Membership).where(Membership.user_id == bea.id))
        assert len(list(joined)) == 1


async def test_an_expired_invitation_is_refused(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    token, _invitation = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    bea = await _user(db, "bea@example.test", "Bea")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(
            update(Invitation).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        assert await invitations.pending(session) == []

    with pytest.raises(ValidationFailed, match="expired"):
        await _accept(db, token, bea)


async def test_a_revoked_invitation_is_refused(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    token, invitation = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    bea = await _user(db, "bea@example.test", "Bea")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await invitations.revoke(session, invitation.id, by=admin.id)
        await invitations.revoke(session, invitation.id, by=admin.id)  # twice: no change
        assert await invitations.pending(session) == []
        revoked = [e for e in await audit.entries(session) if e.action.endswith("_revoked")]
        assert len(revoked) == 1

    with pytest.raises(ValidationFailed, match="withdrawn"):
        await _accept(db, token, bea)


async def test_an_accepted_invitation_cannot_be_revoked(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    token, invitation = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    await _accept(db, token, await _user(db, "bea@example.test", "Bea"))
    async with db.tenant_transaction(acme.tenant_id) as session:
        with pytest.raises(Conflict, match="already been accepted"):
            await invitations.revoke(session, invitation.id, by=admin.id)


async def test_only_the_invited_address_can_accept(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    token, _invitation = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    eve = await _user(db, "eve@example.test", "Eve")

    with pytest.raises(PermissionDenied, match="another e-mail address"):
        await _accept(db, token, eve)
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(Membership).where(Membership.user_id == eve.id)) is None
    await _accept(db, token, await _user(db, "BEA@example.TEST", "Bea"))  # case does not matter


async def test_a_made_up_link_is_refused(db: Database) -> None:
    bea = await _user(db, "bea@example.test", "Bea")
    with pytest.raises(ValidationFailed, match="not valid"):
        await _accept(db, "made-up-token", bea)


async def test_inviting_an_active_member_is_a_conflict(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    with pytest.raises(Conflict, match="already a member"):
        await _invite(db, settings, mailer, acme, admin, "GRACE@acme.test")


async def test_inviting_again_replaces_the_pending_invitation(
    db: Database,
    settings: Settings,
    mailer: mail.SmtpMailer,
    inbox: Inbox,
    acme: TenantContext,
    admin: User,
) -> None:
    first, _ = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    second, latest = await _invite(db, settings, mailer, acme, admin, "Bea@example.test")
    assert len(inbox.messages) == 2
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert [i.id for i in await invitations.pending(session)] == [latest.id]
    bea = await _user(db, "bea@example.test", "Bea")

    with pytest.raises(ValidationFailed, match="withdrawn"):
        await _accept(db, first, bea)
    await _accept(db, second, bea)


async def test_roles_an_invitation_may_give(
    db: Database,
    settings: Settings,
    mailer: mail.SmtpMailer,
    registry: ModuleRegistry,
    acme: TenantContext,
    admin: User,
) -> None:
    for keys, error, message in [
        ((roles.OWNER,), ValidationFailed, "cannot make someone an owner"),
        ((), ValidationFailed, "Choose one of Admin or Member"),
        ((roles.ADMIN, roles.MEMBER), ValidationFailed, "Choose one of Admin or Member"),
        ((roles.MEMBER, "sales"), ValidationFailed, "Unknown role"),
        ((roles.MEMBER, str(uuid.uuid4())), NotFound, "No role"),
    ]:
        with pytest.raises(error, match=message):
            await _invite(db, settings, mailer, acme, admin, "bea@example.test", keys)

    async with db.tenant_transaction(acme.tenant_id) as session:
        sales = await roles.create_role(
            session, registry, name="Sales", permissions=["core.party.read"]
        )
        gone = await roles.create_role(
            session, registry, name="Gone", permissions=["core.party.read"]
        )
    token, invitation = await _invite(
        db,
        settings,
        mailer,
        acme,
        admin,
        "bea@example.test",
        (roles.ADMIN, str(sales.id), str(gone.id)),
    )
    assert invitation.role_keys == [roles.ADMIN, str(sales.id), str(gone.id)]
    async with db.tenant_transaction(acme.tenant_id) as session:
        await roles.delete_role(session, gone.id)  # deleted before the invitation is accepted

    member = await _accept(db, token, await _user(db, "bea@example.test", "Bea"))

    assert member.role == roles.ADMIN
    async with db.tenant_transaction(acme.tenant_id) as session:
        held = await session.scalars(
            select(MemberRole.role_id).where(MemberRole.membership_id == member.id)
        )
        assert list(held) == [sales.id]


async def test_invitations_stay_in_their_workspace(
    db: Database,
    settings: Settings,
    mailer: mail.SmtpMailer,
    make_tenant,
    acme: TenantContext,
    admin: User,
) -> None:
    globex = await make_tenant("globex-inv")
    hank = await _user(db, "hank@globex.test", "Hank")
    await _member(db, globex, hank, roles.ADMIN)
    acme_token, acme_invitation = await _invite(
        db, settings, mailer, acme, admin, "bea@example.test"
    )
    _globex_token, globex_invitation = await _invite(
        db, settings, mailer, globex, hank, "bea@example.test"
    )

    async with db.tenant_transaction(globex.tenant_id) as session:
        assert [i.id for i in await invitations.pending(session)] == [globex_invitation.id]
        with pytest.raises(NotFound):  # another workspace's invitation is not there
            await invitations.revoke(session, acme_invitation.id, by=hank.id)
        # Row-level security agrees with the ORM's scoping.
        visible = await session.execute(text("SELECT tenant_id FROM core_invitation"))
        assert {row.tenant_id for row in visible} == {globex.tenant_id}

    bea = await _user(db, "bea@example.test", "Bea")
    await _accept(db, acme_token, bea)
    async with db.tenant_transaction(globex.tenant_id) as session:
        assert await session.scalar(select(Membership).where(Membership.user_id == bea.id)) is None
        [still_pending] = await invitations.pending(session)
        assert still_pending.id == globex_invitation.id


# --- deactivation -----------------------------------------------------------------------


RESOLVE = text(
    "SELECT credential_valid, membership_id "
    "FROM core_resolve_request(:slug, :session_hash, :token_hash, 480)"
)


async def _access(
    db: Database, tenant: TenantContext, *, cookie: str | None = None, api_token: str | None = None
) -> tuple[bool, uuid.UUID | None]:
    """What the request guard sees for a credential in a workspace."""
    async with db.session() as session, session.begin():
        row = (
            await session.execute(
                RESOLVE,
                {
                    "slug": tenant.slug,
                    "session_hash": sessions.digest(cookie) if cookie else None,
                    "token_hash": sessions.digest(api_token) if api_token else None,
                },
            )
        ).one()
    return row.credential_valid, row.membership_id


async def test_a_deactivated_member_loses_the_workspace_at_once(
    db: Database, settings: Settings, make_tenant, acme: TenantContext, admin: User
) -> None:
    other = await make_tenant("other-inv")
    bea = await _user(db, "bea@example.test", "Bea")
    member = await _member(db, acme, bea, roles.MEMBER)
    elsewhere = await _member(db, other, bea, roles.MEMBER)
    async with db.global_transaction() as session:
        cookie, _signed_in = await accounts.sign_in(
            session, settings, email="bea@example.test", password=GOOD
        )
    async with db.tenant_transaction(acme.tenant_id) as session:
        actor = Actor(
            tenant_id=acme.tenant_id,
            user_id=bea.id,
            membership_id=member.id,
            permissions=frozenset({"core.api_token.create", "core.party.read"}),
        )
        api_token, _row = await api_tokens.create(
            session, actor, name="Sync", permissions=["core.party.read"]
        )
    assert await _access(db, acme, cookie=cookie) == (True, member.id)
    assert await _access(db, acme, api_token=api_token) == (True, member.id)

    async with db.tenant_transaction(acme.tenant_id) as session:
        await members.deactivate_member(session, member.id, by=admin.id)
        await members.deactivate_member(session, member.id, by=admin.id)  # twice: no change

    assert await _access(db, acme, cookie=cookie) == (True, None)  # signed in, not a member
    assert await _access(db, acme, api_token=api_token) == (False, None)
    assert await _access(db, other, cookie=cookie) == (True, elsewhere.id)  # other work goes on
    async with db.tenant_transaction(acme.tenant_id) as session:
        kept = await session.get(Membership, (acme.tenant_id, member.id))
        assert kept is not None
        assert not kept.active  # history stays
        [entry] = [e for e in await audit.entries(session) if e.action == "core.member.deactivated"]
        assert (entry.actor_id, entry.detail) == (admin.id, {"api_tokens_revoked": 1})

    async with db.tenant_transaction(acme.tenant_id) as session:
        await members.reactivate_member(session, member.id, by=admin.id)
    assert await _access(db, acme, cookie=cookie) == (True, member.id)
    assert await _access(db, acme, api_token=api_token) == (False, None)  # tokens stay revoked


async def test_an_invitation_reactivates_a_deactivated_member(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, acme: TenantContext, admin: User
) -> None:
    bea = await _user(db, "bea@example.test", "Bea")
    member = await _member(db, acme, bea, roles.ADMIN)
    async with db.tenant_transaction(acme.tenant_id) as session:
        await members.deactivate_member(session, member.id, by=admin.id)

    token, _invitation = await _invite(db, settings, mailer, acme, admin, "bea@example.test")
    joined = await _accept(db, token, bea)

    assert (joined.id, joined.active, joined.role) == (member.id, True, roles.MEMBER)


async def test_the_last_owner_and_oneself_are_not_deactivated(
    db: Database, acme: TenantContext, admin: User
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        grace = await session.scalar(select(Membership).where(Membership.user_id == admin.id))
        assert grace is not None
        with pytest.raises(Conflict, match="yourself"):
            await members.deactivate_member(session, grace.id, by=admin.id)
    zoe = await _user(db, "zoe@acme.test", "Zoe")
    await _member(db, acme, zoe, roles.OWNER)
    async with db.tenant_transaction(acme.tenant_id) as session:
        owners = list(
            await session.scalars(
                select(Membership).where(
                    Membership.role == roles.OWNER, Membership.active.is_(True)
                )
            )
        )
        *others, last = owners
        for owner in others:
            await members.deactivate_member(session, owner.id, by=admin.id)
        with pytest.raises(Conflict, match="at least one owner"):
            await members.deactivate_member(session, last.id, by=admin.id)
    async with db.tenant_transaction(acme.tenant_id) as session:
        with pytest.raises(NotFound):
            await members.deactivate_member(session, uuid.uuid4(), by=admin.id)
