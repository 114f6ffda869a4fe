"""Password reset, e-mail verification, invitation links and the development mailbox
over real HTTP.

The app runs on a loopback port and mails through a real SMTP server
(aiosmtpd, from the mail tests); links are taken from the delivered mail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from core import mail
from core.db import Database
from core.identity import accounts, recovery, throttle
from core.models import User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings, SmtpSettings
from tenants import invitations
from tenants.invitations import Invitation
from tests.conftest import LiveServer
from tests.core import test_mail_tokens as mail_tests
from tests.core.test_mail_tokens import Inbox, _security_log, link_in
from tests.pages import csrf
from web.app import create_app
from web.auth import SESSION_COOKIE

smtp_server, inbox = mail_tests.smtp_server, mail_tests.inbox

HTML = {"accept": "text/html"}
GOOD = "correct horse battery staple"
NEW = "a brand new long passphrase"


@pytest.fixture
def smtp_settings(settings: Settings, smtp_server: tuple[Inbox, int]) -> Settings:
    """The test settings, mailing through the loopback SMTP server."""
    return dataclasses.replace(
        settings, smtp=SmtpSettings(host="127.0.0.1", port=smtp_server[1], use_tls=False)
    )


def serve(settings: Settings, db: Database, registry: ModuleRegistry) -> Litestar:
    """The app; its lifespan picks the mailer from the settings (SMTP here)."""
    return create_app(settings, db=db, registry=registry)


@pytest.fixture
async def web(
    smtp_settings: Settings, db: Database, registry: ModuleRegistry
) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous browser on the live app."""
    app = serve(smtp_settings, db, registry)
    async with LiveServer(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield http


async def post_form(
    http: httpx.AsyncClient, page_url: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    """Open the page (for its CSRF token) and submit its form."""
    page = await http.get(page_url, headers=HTML)
    return await http.post(action, data={"_csrf_token": csrf(page), **fields}, headers=HTML)


async def register(db: Database, address: str, name: str) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(session, email=address, password=GOOD, display_name=name)


@pytest.fixture
async def ada(db: Database) -> User:
    return await register(db, "Ada@Example.test", "Ada")


async def _ask_for_reset(web: httpx.AsyncClient, address: str) -> httpx.Response:
    answer = await post_form(web, "/forgot-password", "/forgot-password", {"email": address})
    await mail.drain()
    return answer


async def _reset_token(web: httpx.AsyncClient, inbox: Inbox) -> str:
    await _ask_for_reset(web, "ada@example.test")
    _link, token = link_in(inbox.to("Ada@Example.test")[-1])
    return token


async def test_the_sign_in_page_links_to_the_reset(web: httpx.AsyncClient) -> None:
    page = await web.get("/sign-in", headers=HTML)
    assert 'href="/forgot-password"' in page.text


async def test_asking_for_a_reset_answers_alike_and_mails_only_an_account(
    web: httpx.AsyncClient, inbox: Inbox, ada: User
) -> None:
    known = await _ask_for_reset(web, "ada@example.test")
    unknown = await _ask_for_reset(web, "nobody@example.test")

    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("ada@example.test", "@") == unknown.text.replace(
        "nobody@example.test", "@"
    )
    assert "a link to choose a new password is on its way" in known.text
    assert [m["To"] for m in inbox.messages] == ["Ada@Example.test"]


async def test_a_malformed_address_is_asked_again(web: httpx.AsyncClient, inbox: Inbox) -> None:
    answer = await _ask_for_reset(web, "not an address")
    assert answer.status_code == 422
    assert "Enter a valid e-mail address." in answer.text
    assert inbox.messages == []


async def test_the_mailed_link_sets_the_password_and_ends_old_sessions(
    web: httpx.AsyncClient, inbox: Inbox, db: Database, settings: Settings, ada: User, sign_in
) -> None:
    elsewhere = httpx.AsyncClient(base_url=str(web.base_url))
    elsewhere.cookies.set(SESSION_COOKIE, await sign_in(ada.id))
    async with elsewhere:
        assert (await elsewhere.get("/account", headers=HTML)).status_code == 200
        token = await _reset_token(web, inbox)

        form = await web.get(f"/reset-password/{token}", headers=HTML)
        assert form.status_code == 200
        assert form.headers["referrer-policy"] == "no-referrer"
        assert form.headers["cache-control"] == "no-store"
        done = await web.post(
            f"/reset-password/{token}",
            data={"_csrf_token": csrf(form), "password": NEW, "password_again": NEW},
            headers=HTML,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/sign-in?notice=password-reset"
        notice = await web.get(done.headers["location"], headers=HTML)
        assert "Your password has been changed." in notice.text

        # The session signed in before the reset opens nothing any more.
        stale = await elsewhere.get("/account", headers=HTML)
        assert stale.status_code == 303
        assert stale.headers["location"].startswith("/sign-in")

    old = await post_form(
        web, "/sign-in", "/sign-in", {"email": "ada@example.test", "password": GOOD}
    )
    assert old.status_code == 401
    new = await post_form(
        web, "/sign-in", "/sign-in", {"email": "ada@example.test", "password": NEW}
    )
    assert new.status_code == 303
    assert (await web.get("/account", headers=HTML)).status_code == 200


async def test_a_refused_password_shows_the_form_again_and_keeps_the_link(
    web: httpx.AsyncClient, inbox: Inbox, ada: User
) -> None:
    token = await _reset_token(web, inbox)
    page = f"/reset-password/{token}"

    short = await post_form(web, page, page, {"password": "short", "password_again": "short"})
    assert short.status_code == 422
    assert "A password needs at least 10 characters." in short.text
    assert 'name="password_again"' in short.text  # the form again
    differ = await post_form(web, page, page, {"password": NEW, "password_again": NEW + "!"})
    assert differ.status_code == 422
    assert "The two passwords are not the same." in differ.text

    done = await post_form(web, page, page, {"password": NEW, "password_again": NEW})
    assert done.status_code == 303


async def test_a_used_link_is_refused_with_a_clear_message(
    web: httpx.AsyncClient, inbox: Inbox, ada: User
) -> None:
    token = await _reset_token(web, inbox)
    page = f"/reset-password/{token}"
    assert (await post_form(web, page, page, {"password": NEW, "password_again": NEW})).is_redirect

    again = await web.get(page, headers=HTML)
    assert again.status_code == 422
    assert "This link has already been used." in again.text
    assert 'href="/forgot-password"' in again.text
    assert again.headers["referrer-policy"] == "no-referrer"
    # A form kept open in another tab is refused the same way.
    sign_in_page = await web.get("/sign-in", headers=HTML)
    reused = await web.post(
        page,
        data={"_csrf_token": csrf(sign_in_page), "password": GOOD, "password_again": GOOD},
        headers=HTML,
    )
    assert reused.status_code == 422
    assert "This link has already been used." in reused.text


async def test_a_made_up_reset_link_is_refused(web: httpx.AsyncClient) -> None:
    refused = await web.get("/reset-password/made-up", headers=HTML)
    assert refused.status_code == 422
    assert "This link is not valid. Ask for a new one." in refused.text


async def _verification_token(db: Database, settings: Settings, inbox: Inbox, user: User) -> str:
    async with db.global_transaction() as session:
        row = await session.get(User, user.id)
        assert row is not None
        await recovery.send_verification(session, settings, mail.mailer_for(settings, db), row)
    await mail.drain()
    _link, token = link_in(inbox.to(user.email)[-1])
    return token


async def _verified(db: Database, user: User) -> bool:
    async with db.global_transaction() as session:
        row = await session.get(User, user.id)
        assert row is not None
        return row.email_verified_at is not None


async def test_opening_the_verification_link_asks_and_only_the_form_confirms(
    web: httpx.AsyncClient, inbox: Inbox, db: Database, smtp_settings: Settings, ada: User
) -> None:
    token = await _verification_token(db, smtp_settings, inbox, ada)
    page = f"/verify-email/{token}"

    # A mail scanner opening the link (twice, even) confirms nothing.
    for _ in range(2):
        asked = await web.get(page, headers=HTML)
        assert asked.status_code == 200
        assert asked.headers["referrer-policy"] == "no-referrer"
        assert asked.headers["cache-control"] == "no-store"
        assert "Confirm that Ada@Example.test is your e-mail address." in asked.text
        assert f'action="{page}"' in asked.text
    assert not await _verified(db, ada)

    confirmed = await web.post(page, data={"_csrf_token": csrf(asked)}, headers=HTML)
    assert confirmed.status_code == 200
    assert confirmed.headers["referrer-policy"] == "no-referrer"
    assert "Ada@Example.test is confirmed as your address." in confirmed.text
    assert await _verified(db, ada)

    again = await web.get(page, headers=HTML)
    assert again.status_code == 422
    assert "This link has already been used." in again.text
    twice = await web.post(page, data={"_csrf_token": csrf(asked)}, headers=HTML)
    assert twice.status_code == 422
    assert "This link has already been used." in twice.text


async def test_confirming_an_address_takes_the_forms_csrf_token(
    web: httpx.AsyncClient, inbox: Inbox, db: Database, smtp_settings: Settings, ada: User
) -> None:
    token = await _verification_token(db, smtp_settings, inbox, ada)
    forged = await web.post(f"/verify-email/{token}", headers=HTML)  # no form token
    assert forged.status_code == 403
    assert not await _verified(db, ada)


async def test_opening_a_reset_or_invitation_link_uses_nothing(
    web: httpx.AsyncClient,
    inbox: Inbox,
    db: Database,
    smtp_settings: Settings,
    ada: User,
    make_tenant,
    sign_in,
) -> None:
    reset = f"/reset-password/{await _reset_token(web, inbox)}"
    for _ in range(2):
        assert (await web.get(reset, headers=HTML)).status_code == 200
    acme = await make_tenant("acme")
    grace = await register(db, "grace@example.test", "Grace")
    async with db.tenant_transaction(acme.tenant_id) as session:
        invitation_token, invitation = await invitations.invite(
            session,
            smtp_settings,
            mail.mailer_for(smtp_settings, db),
            acme,
            email=ada.email,
            invited_by=grace.id,
        )
    await mail.drain()
    invited = f"/invitations/{invitation_token}"
    web.cookies.set(SESSION_COOKIE, await sign_in(ada.id))  # the invitee, signed in
    for _ in range(2):
        opened = await web.get(invited, headers=HTML)
        assert opened.status_code == 200
        assert 'id="accept-invitation"' in opened.text  # asks; joining is the form's POST

    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.get(Invitation, (acme.tenant_id, invitation.id))
        assert row is not None
        assert row.accepted_at is None
    web.cookies.clear()
    done = await post_form(web, reset, reset, {"password": NEW, "password_again": NEW})
    assert done.status_code == 303  # the reset link still works


async def test_asking_too_often_says_when_to_try_again_alike_for_any_address(
    web: httpx.AsyncClient, inbox: Inbox, db: Database, ada: User
) -> None:
    allowed = throttle.RESET_REQUESTS.account.failures
    answers = {}
    for address in ("ada@example.test", "nobody@example.test"):
        for _ in range(allowed):
            assert (await _ask_for_reset(web, address)).status_code == 200
        answers[address] = await _ask_for_reset(web, address)

    known, unknown = answers["ada@example.test"], answers["nobody@example.test"]
    assert known.status_code == unknown.status_code == 429
    assert known.text.replace("ada@example.test", "@") == unknown.text.replace(
        "nobody@example.test", "@"
    )
    assert "Too many requests for a password reset. Try again in 15 minutes." in known.text
    assert 'value="ada@example.test"' in known.text  # the form again, filled in
    assert len(inbox.to("Ada@Example.test")) == allowed  # the refused one mailed nothing
    throttled = await _security_log(db, "auth.password_reset_throttled")
    assert [e.email for e in throttled] == ["ada@example.test", "nobody@example.test"]


async def test_the_development_mailbox_shows_mail_with_its_links(
    settings: Settings, db: Database, registry: ModuleRegistry, ada: User
) -> None:
    app = serve(settings, db, registry)  # no SMTP_HOST: the development mailbox
    async with LiveServer(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        await post_form(http, "/forgot-password", "/forgot-password", {"email": "ada@example.test"})
        await mail.drain()
        page = await http.get("/dev/mailbox", headers=HTML)
    assert page.status_code == 200
    assert "Reset your Atrium password" in page.text
    assert f'href="{settings.base_url}/reset-password/' in page.text


async def test_there_is_no_mailbox_in_production(
    smtp_settings: Settings, db: Database, registry: ModuleRegistry
) -> None:
    production = dataclasses.replace(smtp_settings, env="production", secret_key="s" * 40)
    app = serve(production, db, registry)
    async with LiveServer(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        page = await http.get("/dev/mailbox", headers=HTML)
    assert page.status_code == 404
