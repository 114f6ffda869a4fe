"""Members and invitations over real HTTP: the JSON API, the members page, the link's page.

Invitations are mailed through a real SMTP server (aiosmtpd) and accepted
from the delivered link, as their invitee would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from core import mail, organisation, roles
from core.context import TenantContext
from core.db import Database
from core.models import Membership, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tests.conftest import TEST_OWNER_EMAIL, LiveServer
from tests.core.test_mail_tokens import Inbox, link_in
from tests.web import test_recovery_pages as recovery_tests
from tests.web.test_recovery_pages import GOOD, HTML, csrf, post_form, register, serve
from web.auth import SESSION_COOKIE

smtp_server, inbox, smtp_settings = (
    recovery_tests.smtp_server,
    recovery_tests.inbox,
    recovery_tests.smtp_settings,
)


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme", "sample")


async def _join(db: Database, tenant: TenantContext, user: User, role: str) -> Membership:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        member = Membership(user_id=user.id, role=role)
        session.add(member)
        await session.flush()
        return member


@pytest.fixture
async def live(
    smtp_settings: Settings, db: Database, registry: ModuleRegistry
) -> AsyncIterator[str]:
    """The app's address on loopback; each browser is its own client."""
    async with LiveServer(serve(smtp_settings, db, registry)) as base_url:
        yield base_url


@pytest.fixture
async def browser(live: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live) as http:
        yield http


@pytest.fixture
async def owner(live: str, db: Database, acme: TenantContext, sign_in):
    """A browser signed in as the test owner, an owner of acme."""
    async with db.global_transaction() as session:
        user = await session.scalar(select(User).where(User.email == TEST_OWNER_EMAIL))
        assert user is not None
    async with httpx.AsyncClient(base_url=live) as http:
        http.cookies.set(SESSION_COOKIE, await sign_in(user.id))
        yield http


async def _signed_in(live: str, sign_in, user: User) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=live)
    http.cookies.set(SESSION_COOKIE, await sign_in(user.id))
    return http


async def _invite(owner: httpx.AsyncClient, address: str, role: str = roles.MEMBER) -> str:
    """Invite over the API; the token from the delivered mail."""
    made = await owner.post("/api/t/acme/invitations", json={"email": address, "role_keys": [role]})
    assert made.status_code == 201, made.text
    await mail.drain()
    return made.json()["id"]


def _token_mailed_to(inbox: Inbox, address: str) -> str:
    _link, token = link_in(inbox.to(address)[-1])
    return token


async def test_members_are_listed_with_role_status_and_department(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    bea = await register(db, "bea@acme.test", "Bea")
    member = await _join(db, acme, bea, roles.MEMBER)
    async with db.tenant_transaction(acme.tenant_id) as session:
        sales = await organisation.create_department(session, "Sales")
        await organisation.place_member(session, member.id, department_id=sales.id)

    listed = await owner.get("/api/t/acme/members")
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert [(m["display_name"], m["role"], m["active"]) for m in page["items"]] == [
        ("Bea", "member", True),
        ("Test Owner", "owner", True),
    ]
    assert (page["items"][0]["email"], page["items"][0]["department"]) == ("bea@acme.test", "Sales")
    assert page["next_cursor"] is None

    first = (await owner.get("/api/t/acme/members", params={"limit": 1})).json()
    second = (
        await owner.get("/api/t/acme/members", params={"limit": 1, "after": first["next_cursor"]})
    ).json()
    assert [m["display_name"] for m in first["items"] + second["items"]] == ["Bea", "Test Owner"]
    assert second["next_cursor"] is None
    found = (await owner.get("/api/t/acme/members", params={"q": "ACME.test"})).json()
    assert [m["display_name"] for m in found["items"]] == ["Bea"]


async def test_an_invitation_by_api_is_mailed_and_accepted_after_sign_in(
    owner: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    inbox: Inbox,
    db: Database,
    acme: TenantContext,
) -> None:
    invitation_id = await _invite(owner, "Cleo@Example.test")
    assert "token" not in (await owner.get("/api/t/acme/invitations")).json()[0]
    [waiting] = (await owner.get("/api/t/acme/invitations")).json()
    assert (waiting["id"], waiting["email"], waiting["role_keys"]) == (
        invitation_id,
        "Cleo@Example.test",
        ["member"],
    )
    token = _token_mailed_to(inbox, "Cleo@Example.test")
    await register(db, "cleo@example.test", "Cleo")

    page = await browser.get(f"/invitations/{token}", headers=HTML)
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Test Owner invited Cleo@Example.test to the workspace Acme as Member." in page.text
    sign_in_link = f"/sign-in?next=/invitations/{token}"
    assert f'href="{sign_in_link}"' in page.text

    signed_in = await post_form(
        browser,
        sign_in_link,
        "/sign-in",
        {"email": "cleo@example.test", "password": GOOD, "next": f"/invitations/{token}"},
    )
    assert signed_in.headers["location"] == f"/invitations/{token}"
    assert (await browser.get("/t/acme/", headers=HTML)).status_code == 404  # not yet a member
    accepted = await post_form(browser, f"/invitations/{token}", f"/invitations/{token}", {})
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/t/acme/"
    assert (await browser.get("/t/acme/", headers=HTML)).status_code == 200
    assert (await owner.get("/api/t/acme/invitations")).json() == []

    used = await browser.get(f"/invitations/{token}", headers=HTML)
    assert used.status_code == 422
    assert "This invitation has already been accepted." in used.text


async def test_an_invitee_without_an_account_creates_it_from_the_link(
    owner: httpx.AsyncClient, browser: httpx.AsyncClient, inbox: Inbox, db: Database
) -> None:
    await _invite(owner, "dana@example.test", roles.ADMIN)
    here = f"/invitations/{_token_mailed_to(inbox, 'dana@example.test')}"

    weak = await post_form(browser, here, here, {"display_name": "Dana", "password": "short"})
    assert weak.status_code == 422
    assert "A password needs at least 10 characters." in weak.text
    assert 'value="Dana"' in weak.text  # what was typed is kept

    joined = await post_form(browser, here, here, {"display_name": "Dana", "password": GOOD})
    assert joined.status_code == 303
    assert joined.headers["location"] == "/t/acme/"
    assert (await browser.get("/t/acme/", headers=HTML)).status_code == 200
    async with db.global_transaction() as session:
        dana = await session.scalar(select(User).where(User.email == "dana@example.test"))
        assert dana is not None
        assert dana.email_verified_at is not None  # the link proved the address
    members = (await owner.get("/api/t/acme/members", params={"q": "dana"})).json()["items"]
    assert [(m["display_name"], m["role"]) for m in members] == [("Dana", "admin")]


async def test_only_the_invited_address_may_accept(
    owner: httpx.AsyncClient, live: str, inbox: Inbox, db: Database, sign_in
) -> None:
    await _invite(owner, "erin@example.test")
    here = f"/invitations/{_token_mailed_to(inbox, 'erin@example.test')}"
    frank = await register(db, "frank@example.test", "Frank")
    async with await _signed_in(live, sign_in, frank) as browser:
        page = await browser.get(here, headers=HTML)
        assert "You are signed in as frank@example.test" in page.text
        assert 'id="accept-invitation"' not in page.text
        refused = await browser.post(here, data={"_csrf_token": csrf(page)}, headers=HTML)
    assert refused.status_code == 403
    assert "This invitation was sent to another e-mail address." in refused.text


async def test_a_withdrawn_invitation_link_says_so(
    owner: httpx.AsyncClient, browser: httpx.AsyncClient, inbox: Inbox
) -> None:
    invitation_id = await _invite(owner, "gus@example.test")
    gone = await owner.delete(f"/api/t/acme/invitations/{invitation_id}")
    assert gone.status_code == 204
    page = await browser.get(
        f"/invitations/{_token_mailed_to(inbox, 'gus@example.test')}", headers=HTML
    )
    assert page.status_code == 422
    assert "This invitation has been withdrawn." in page.text


async def test_a_member_without_the_right_cannot_invite(
    live: str, inbox: Inbox, db: Database, acme: TenantContext, sign_in
) -> None:
    hana = await register(db, "hana@acme.test", "Hana")
    await _join(db, acme, hana, roles.MEMBER)
    async with await _signed_in(live, sign_in, hana) as browser:
        assert (await browser.get("/api/t/acme/members")).status_code == 200
        refused = await browser.post("/api/t/acme/invitations", json={"email": "ivy@example.test"})
        page = await browser.get("/t/acme/members", headers=HTML)
    assert refused.status_code == 403
    assert refused.json()["error"]["permission"] == "core.member.manage"
    assert "core.member.manage" in refused.json()["error"]["message"]
    await mail.drain()
    assert inbox.messages == []
    assert page.status_code == 200
    assert 'id="invite-form"' not in page.text


async def test_deactivation_shuts_the_member_out_at_their_next_request(
    owner: httpx.AsyncClient, live: str, db: Database, acme: TenantContext, sign_in
) -> None:
    jon = await register(db, "jon@acme.test", "Jon")
    member = await _join(db, acme, jon, roles.MEMBER)
    async with await _signed_in(live, sign_in, jon) as browser:
        assert (await browser.get("/api/t/acme/members")).status_code == 200

        off = await owner.post(f"/api/t/acme/members/{member.id}/deactivate")
        assert off.status_code == 200, off.text
        assert (off.json()["display_name"], off.json()["active"]) == ("Jon", False)
        assert (await browser.get("/api/t/acme/members")).status_code == 404
        assert (await browser.get("/t/acme/", headers=HTML)).status_code == 404

        on = await owner.post(f"/api/t/acme/members/{member.id}/reactivate")
        assert on.json()["active"] is True
        assert (await browser.get("/api/t/acme/members")).status_code == 200

        inactive = (await owner.get("/api/t/acme/members", params={"active": "false"})).json()
        assert inactive["items"] == []


async def test_nobody_deactivates_themselves(owner: httpx.AsyncClient, db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        me = await session.scalar(select(Membership.id).where(Membership.role == roles.OWNER))
    refused = await owner.post(f"/api/t/acme/members/{me}/deactivate")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "You cannot deactivate yourself."


async def test_the_members_page_invites_and_deactivates(
    owner: httpx.AsyncClient, inbox: Inbox, db: Database, acme: TenantContext
) -> None:
    kim = await register(db, "kim@acme.test", "Kim")
    member = await _join(db, acme, kim, roles.MEMBER)
    page = await owner.get("/t/acme/members", headers=HTML)
    assert page.status_code == 200
    assert "kim@acme.test" in page.text
    assert 'id="invite-form"' in page.text

    taken = await owner.post(
        "/t/acme/members/invite",
        data={"_csrf_token": csrf(page), "email": "kim@acme.test", "role": "member"},
        headers=HTML,
    )
    assert taken.status_code == 409
    assert "kim@acme.test is already a member of this workspace." in taken.text
    invited = await owner.post(
        "/t/acme/members/invite",
        data={"_csrf_token": csrf(page), "email": "lea@example.test", "role": "admin"},
        headers=HTML,
    )
    assert invited.status_code == 303
    assert invited.headers["location"] == "/t/acme/members"
    await mail.drain()
    assert [m["To"] for m in inbox.messages] == ["lea@example.test"]
    listed = await owner.get("/t/acme/members", headers=HTML)
    assert "lea@example.test" in listed.text

    off = await owner.post(
        f"/t/acme/members/{member.id}/deactivate",
        data={"_csrf_token": csrf(page)},
        headers=HTML,
    )
    assert off.status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.get(Membership, (acme.tenant_id, member.id))
        assert row is not None
        assert row.active is False
