"""The landing page and sign-up over real HTTP: the app on a loopback port, the
development mailbox for the verification mail, the database read back as it is."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from core import mail
from core.db import Database
from core.identity import accounts, throttle
from core.models import Membership, SecurityEvent, SignInThrottle, Tenant, User
from core.products.models import Currency
from tenants.signup import NEW_WORKSPACES, SIGN_UPS
from tests.pages import csrf
from web.auth import SESSION_COOKIE

HTML = {"accept": "text/html"}
ZH = {**HTML, "accept-language": "zh-CN"}
GOOD = {
    "company": "Acme Trading Ltd",
    "slug": "acme-trading",
    "display_name": "Ada Lovelace",
    "email": "ada@acme.test",
    "password": "correct horse battery staple",
    "locale": "en",
}


@pytest.fixture
async def web(live: str) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous browser on the live app."""
    async with httpx.AsyncClient(base_url=live) as http:
        yield http


async def submit(
    web: httpx.AsyncClient, headers: dict[str, str] = HTML, **changes: str
) -> httpx.Response:
    """Open the sign-up page (for its CSRF token) and send the good form with ``changes``."""
    page = await web.get("/sign-up", headers=headers)
    fields = {**GOOD, **changes, "_csrf_token": csrf(page)}
    return await web.post("/sign-up", data=fields, headers=headers)


def element(page: str, element_id: str) -> str:
    """The text of the element with ``element_id`` (HTML entities decoded)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"no #{element_id} in the page"
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(2))).strip()


def value_of(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} input with a value"
    return html.unescape(found.group(1))


NEW = "/account/workspaces/new"
SECOND = {"company": "Acme Shanghai Co", "slug": "acme-shanghai", "locale": "zh-CN"}


async def new_workspace(web: httpx.AsyncClient, **fields: str) -> httpx.Response:
    """Open the new-workspace form (for its CSRF token) and send ``fields``."""
    page = await web.get(NEW, headers=HTML)
    assert page.status_code == 200
    return await web.post(NEW, data={**fields, "_csrf_token": csrf(page)}, headers=HTML)


async def counts(db: Database) -> tuple[int, int]:
    """How many users and workspaces there are."""
    async with db.global_transaction() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        tenants = await session.scalar(select(func.count()).select_from(Tenant))
    return users or 0, tenants or 0


# --- the landing page ---------------------------------------------------------------------------


async def test_the_landing_page_says_what_atrium_is_and_lists_the_installed_modules(
    web: httpx.AsyncClient,
) -> None:
    page = await web.get("/", headers=HTML)
    assert page.status_code == 200
    assert "one set of data" in page.text
    assert 'href="/sign-up" id="start-free"' in page.text
    assert 'href="/sign-in" id="landing-sign-in"' in page.text
    card = r'<article class="card" data-module="(\w+)">(.*?)</article>'
    by_key = dict(re.findall(card, page.text, re.S))
    assert list(by_key) == ["crm", "oa", "sample", "sampleaddon"]  # install order: deps first
    assert "A test-only module that exercises every hook." in by_key["sample"]
    assert "Requires Sample" in by_key["sampleaddon"]
    assert "Requires" not in by_key["sample"]
    for body in by_key.values():
        assert "Free while Atrium is in early access" in body


async def test_the_sign_in_page_links_to_sign_up(web: httpx.AsyncClient) -> None:
    page = await web.get("/sign-in", headers=HTML)
    assert 'href="/sign-up" id="sign-up-link"' in page.text


# --- a sign-up ----------------------------------------------------------------------------------


async def test_a_sign_up_lands_signed_in_on_its_new_workspace_as_its_owner(
    web: httpx.AsyncClient, db: Database
) -> None:
    answer = await submit(web)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/t/acme-trading/"
    assert web.cookies.get(SESSION_COOKIE)

    workspace = await web.get("/t/acme-trading/", headers=HTML)
    assert workspace.status_code == 200
    assert "<h1>Dashboard</h1>" in workspace.text

    async with db.global_transaction() as session:
        user = await accounts.by_email(session, "ada@acme.test")
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == "acme-trading"))
        assert user is not None
        assert tenant is not None
        assert (user.display_name, user.locale, user.time_zone) == ("Ada Lovelace", "en", "UTC")
        assert user.email_verified_at is None
        assert (tenant.name, tenant.locale) == ("Acme Trading Ltd", "en")
        logged = await session.scalars(
            select(SecurityEvent.action).where(SecurityEvent.user_id == user.id)
        )
        assert set(logged) == {"auth.signed_up", "auth.signed_in"}
    async with db.tenant_transaction(tenant.id) as session:
        members = list(await session.scalars(select(Membership)))
        base = await session.scalar(select(Currency.code).where(Currency.is_base))
    assert [(m.user_id, m.role, m.active) for m in members] == [(user.id, "owner", True)]
    assert base == "USD"  # seeded from the workspace's language

    await mail.drain()
    mailbox = await web.get("/dev/mailbox", headers=HTML)
    assert "Confirm your e-mail address for Atrium" in mailbox.text
    link = re.search(r'href="https?://[^"]*(/verify-email/[^"]+)"', mailbox.text)
    assert link, mailbox.text
    confirm = await web.get(link.group(1), headers=HTML)
    assert confirm.status_code == 200
    assert "ada@acme.test" in confirm.text


async def test_a_chinese_sign_up_speaks_chinese_and_gets_a_chinese_workspace(
    web: httpx.AsyncClient, db: Database
) -> None:
    page = await web.get("/sign-up", headers=ZH)
    assert "<h1>创建工作区</h1>" in page.text
    assert '<option value="zh-CN" selected>' in page.text  # the language follows the request's
    assert "公司名称" in page.text
    assert "Company name" not in page.text

    refused = await submit(web, ZH, company="", email="不是邮箱", locale="zh-CN")
    assert refused.status_code == 422
    assert element(refused.text, "company-error") == "请填写公司名称。"
    assert element(refused.text, "email-error") == "请输入有效的电子邮箱地址。"

    answer = await submit(web, ZH, company="北京星辰科技有限公司", slug="xingchen", locale="zh-CN")
    assert answer.status_code == 303
    async with db.global_transaction() as session:
        user = await accounts.by_email(session, "ada@acme.test")
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == "xingchen"))
    assert user is not None
    assert tenant is not None
    assert (user.locale, user.time_zone, tenant.locale) == ("zh-CN", "Asia/Shanghai", "zh-CN")
    async with db.tenant_transaction(tenant.id) as session:
        assert await session.scalar(select(Currency.code).where(Currency.is_base)) == "CNY"
    assert answer.cookies.get("atrium_lang") == "zh-CN"  # the pages follow the chosen language


# --- the workspace address ------------------------------------------------------------------------


async def test_the_live_check_says_taken_invalid_or_available(
    web: httpx.AsyncClient, make_tenant
) -> None:
    await make_tenant("taken-co")

    async def verdict(slug: str) -> tuple[str, str]:
        fragment = await web.get("/sign-up/check-slug", params={"slug": slug}, headers=HTML)
        assert fragment.status_code == 200
        assert "<html" not in fragment.text  # a fragment, not a page
        state = re.search(r'data-state="(\w+)"', fragment.text)
        assert state
        return state.group(1), element(fragment.text, "slug-status")

    assert await verdict("taken-co") == ("taken", "The address taken-co is taken.")
    assert await verdict("Taken-Co") == ("taken", "The address taken-co is taken.")
    state, reason = await verdict("bad_slug!")
    assert state == "invalid"
    assert reason.startswith("A workspace address has 3 to 63 lower-case letters")
    assert await verdict("admin") == ("invalid", "The address admin is reserved.")
    assert await verdict("fresh-co") == ("available", "The address fresh-co is available.")


async def test_an_address_is_suggested_from_the_company_name(
    web: httpx.AsyncClient, make_tenant
) -> None:
    await make_tenant("acme-trading")

    async def field(company: str, slug: str = "", suggested: str = "") -> tuple[str, str]:
        """The address field's slug and the suggestion it remembers."""
        params = {"company": company, "slug": slug, "slug_suggested": suggested}
        fragment = await web.get("/sign-up/suggest-slug", params=params, headers=HTML)
        assert fragment.status_code == 200
        return value_of(fragment.text, "slug"), value_of(fragment.text, "slug_suggested")

    async def suggestion(company: str) -> str:
        slug, remembered = await field(company)
        assert remembered == slug
        return slug

    assert await suggestion("Café Zürich GmbH") == "cafe-zurich-gmbh"
    assert await suggestion("Acme Trading") == "acme-trading-2"  # acme-trading is taken
    chinese = await suggestion("北京星辰科技有限公司")
    assert re.fullmatch(r"team-[0-9a-f]{6}", chinese)
    assert await suggestion("北京星辰科技有限公司") == chinese  # it stays put while the name does
    assert await suggestion("北京 Acme 科技") == "acme"
    # While the address is the last suggestion it follows the name; once typed, it stays.
    assert await field("Acme Tools", "acme", "acme") == ("acme-tools", "acme-tools")
    assert await field("Acme Tools", "my-own", "acme") == ("my-own", "acme")
    assert await field("") == ("", "")


# --- bad input ------------------------------------------------------------------------------------


async def test_empty_fields_are_each_refused_beside_their_field(
    web: httpx.AsyncClient, db: Database
) -> None:
    empty = dict.fromkeys(("company", "slug", "display_name", "email", "password"), "")
    answer = await submit(web, **empty)
    assert answer.status_code == 422
    assert element(answer.text, "company-error") == "Enter your company's name."
    assert element(answer.text, "slug-status") == "Choose an address for your workspace."
    assert element(answer.text, "display-name-error") == "Enter your name."
    assert element(answer.text, "email-error") == "Enter your e-mail address."
    assert element(answer.text, "password-error") == "Choose a password."
    assert element(answer.text, "sign-up-error") == "Please correct the marked fields."
    assert await counts(db) == (0, 0)


async def test_too_long_values_are_refused_and_kept(web: httpx.AsyncClient, db: Database) -> None:
    long = {
        "company": "C" * 201,
        "slug": "s" * 64,
        "display_name": "N" * 201,
        "email": "a" * 311 + "@acme.test",  # 321 characters
        "password": "p" * 257,
    }
    answer = await submit(web, **long)
    assert answer.status_code == 422
    assert element(answer.text, "company-error") == "A company name has at most 200 characters."
    assert element(answer.text, "slug-status").startswith("A workspace address has 3 to 63")
    assert element(answer.text, "display-name-error") == "A name has at most 200 characters."
    assert element(answer.text, "email-error") == "Enter a valid e-mail address."
    assert element(answer.text, "password-error") == "A password has at most 256 characters."
    for name in ("company", "slug", "display_name", "email"):
        assert value_of(answer.text, name) == long[name]
    assert "p" * 257 not in answer.text  # a password is never sent back
    assert await counts(db) == (0, 0)


async def test_malformed_values_are_refused_and_kept(web: httpx.AsyncClient, db: Database) -> None:
    answer = await submit(web, email="ada at acme", slug="Acme Trading!", password="short")
    assert answer.status_code == 422
    assert element(answer.text, "email-error") == "Enter a valid e-mail address."
    assert element(answer.text, "slug-status").startswith("A workspace address has 3 to 63")
    assert element(answer.text, "password-error") == "A password needs at least 10 characters."
    assert value_of(answer.text, "email") == "ada at acme"
    assert value_of(answer.text, "slug") == "Acme Trading!"
    assert value_of(answer.text, "company") == GOOD["company"]
    assert value_of(answer.text, "display_name") == GOOD["display_name"]
    assert 'name="password" value' not in answer.text
    assert "company-error" not in answer.text  # only what is wrong is marked

    common = await submit(web, password="password123", locale="fr")
    assert common.status_code == 422
    assert element(common.text, "password-error") == (
        "This password is too easy to guess; choose another."
    )
    assert element(common.text, "locale-error") == "Language must be one of en, zh-CN."
    assert await counts(db) == (0, 0)


async def test_a_taken_address_and_an_existing_account_are_refused(
    web: httpx.AsyncClient, db: Database, make_tenant
) -> None:
    await make_tenant("acme-trading")
    async with db.global_transaction() as session:
        await accounts.register(
            session, email="Ada@Acme.test", password=GOOD["password"], display_name="Ada"
        )
    before = await counts(db)

    answer = await submit(web)
    assert answer.status_code == 422
    assert element(answer.text, "slug-status") == "The address acme-trading is taken."
    assert element(answer.text, "email-error") == (
        "ada@acme.test already has an Atrium account. Sign in with it, or reset its "
        "password if you have forgotten it."
    )
    existing = answer.text.split('id="existing-account"')[1].split("</p>")[0]
    assert 'href="/forgot-password"' in existing
    assert 'href="/sign-in?next=/account/workspaces/new"' in existing  # then another workspace
    assert "create another workspace from your account" in existing
    assert value_of(answer.text, "slug") == "acme-trading"
    assert await counts(db) == before


async def test_two_sign_ups_racing_for_one_address_make_one_workspace(
    web: httpx.AsyncClient, db: Database
) -> None:
    page = await web.get("/sign-up", headers=HTML)
    token = csrf(page)

    async def attempt(email: str) -> httpx.Response:
        fields = {**GOOD, "email": email, "_csrf_token": token}
        return await web.post("/sign-up", data=fields, headers=HTML)

    first, second = await asyncio.gather(attempt("one@acme.test"), attempt("two@acme.test"))
    assert sorted([first.status_code, second.status_code]) == [303, 422]
    loser = first if first.status_code == 422 else second
    assert element(loser.text, "slug-status") == "The address acme-trading is taken."
    async with db.global_transaction() as session:
        emails = list(await session.scalars(select(User.email)))
    assert len(emails) == 1  # the losing sign-up's account was rolled back with it
    assert await counts(db) == (1, 1)


async def test_a_sign_up_without_the_csrf_token_is_refused(
    web: httpx.AsyncClient, db: Database
) -> None:
    await web.get("/sign-up", headers=HTML)  # has the CSRF cookie, but sends no token
    answer = await web.post("/sign-up", data=GOOD, headers=HTML)
    assert answer.status_code == 403
    assert await counts(db) == (0, 0)


async def test_sign_ups_are_throttled_per_client_address(
    web: httpx.AsyncClient, db: Database
) -> None:
    refused = await submit(web, email="")
    assert refused.status_code == 422
    async with db.global_transaction() as session:
        rows = list(await session.scalars(select(SignInThrottle)))
    assert rows == []  # a form refused for its input is not counted

    assert (await submit(web)).status_code == 303
    async with db.global_transaction() as session:
        counted = await session.scalar(
            select(SignInThrottle.failures).where(SignInThrottle.key == "signup:ip:127.0.0.1")
        )
    assert counted == 1
    for n in range(SIGN_UPS.address.failures - 1):
        await throttle.count(db, f"someone{n}@acme.test", "127.0.0.1", SIGN_UPS)

    web.cookies.clear()
    answer = await submit(web, slug="another-co", email="bea@acme.test")
    assert answer.status_code == 429
    assert element(answer.text, "sign-up-error") == (
        "Too many sign-ups in a short time. Try again in 60 minutes."
    )
    assert value_of(answer.text, "email") == "bea@acme.test"
    assert await counts(db) == (1, 1)


# --- another workspace, for someone signed in -----------------------------------------------------


async def test_a_signed_in_person_creates_another_workspace_and_lands_in_it_as_its_owner(
    web: httpx.AsyncClient, db: Database
) -> None:
    assert (await submit(web)).status_code == 303  # Ada, owner of acme-trading
    account = await web.get("/account", headers=HTML)
    assert f'href="{NEW}" id="new-workspace-link"' in account.text
    assert f'href="{NEW}" id="new-workspace-menu-link"' in account.text  # in the user menu

    form = await web.get(NEW, headers=HTML)
    assert "<h1>Create another workspace</h1>" in form.text
    assert 'hx-get="/sign-up/suggest-slug"' in form.text  # the same live address help
    assert '<option value="en" selected>' in form.text  # preset from her own language
    assert 'name="email"' not in form.text
    assert 'name="password"' not in form.text

    answer = await new_workspace(web, **SECOND)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/t/acme-shanghai/"
    landed = await web.get("/t/acme-shanghai/", headers=HTML)
    assert landed.status_code == 200
    assert 'id="workspace-name">Acme Shanghai Co</a>' in landed.text
    assert "<h1>Dashboard</h1>" in landed.text  # her own language (en) stays hers
    switch = element(landed.text, "other-workspaces")
    assert switch == "Acme Trading Ltd"

    account = await web.get("/account", headers=HTML)
    switch = account.text.split('id="other-workspaces">')[1].split("</ul>")[0]
    assert 'href="/t/acme-trading/"' in switch
    assert 'href="/t/acme-shanghai/"' in switch
    listed = account.text.split('id="workspaces"')[1].split("</section>")[0]
    assert "Acme Trading Ltd" in listed
    assert "Acme Shanghai Co" in listed

    async with db.global_transaction() as session:
        user = await accounts.by_email(session, "ada@acme.test")
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == "acme-shanghai"))
        assert user is not None
        assert tenant is not None
        assert (tenant.name, tenant.locale) == ("Acme Shanghai Co", "zh-CN")
        assert user.locale == "en"
        logged = await session.scalars(
            select(SecurityEvent.detail).where(
                SecurityEvent.user_id == user.id, SecurityEvent.action == "auth.workspace_created"
            )
        )
        assert list(logged) == [{"tenant": "acme-shanghai"}]
    async with db.tenant_transaction(tenant.id) as session:
        members = list(await session.scalars(select(Membership)))
        base = await session.scalar(select(Currency.code).where(Currency.is_base))
    assert [(m.user_id, m.role, m.active) for m in members] == [(user.id, "owner", True)]
    assert base == "CNY"  # seeded from the workspace's language, not hers
    assert "atrium_lang" not in answer.cookies
    assert await counts(db) == (1, 2)


async def test_a_new_workspace_form_is_refused_beside_its_fields_with_what_was_typed(
    web: httpx.AsyncClient, db: Database
) -> None:
    assert (await submit(web)).status_code == 303
    taken = await new_workspace(web, **{**SECOND, "slug": "acme-trading"})
    assert taken.status_code == 422
    assert element(taken.text, "slug-status") == "The address acme-trading is taken."
    assert element(taken.text, "new-workspace-error") == "Please correct the marked fields."
    assert value_of(taken.text, "slug") == "acme-trading"
    assert value_of(taken.text, "company") == SECOND["company"]
    assert '<option value="zh-CN" selected>' in taken.text
    assert "company-error" not in taken.text

    empty = await new_workspace(web, company=" ", slug="", locale="fr")
    assert empty.status_code == 422
    assert element(empty.text, "company-error") == "Enter your company's name."
    assert element(empty.text, "slug-status") == "Choose an address for your workspace."
    assert element(empty.text, "locale-error") == "Language must be one of en, zh-CN."
    assert await counts(db) == (1, 1)


async def test_new_workspaces_count_against_the_sign_up_throttle(
    web: httpx.AsyncClient, db: Database
) -> None:
    assert (await submit(web)).status_code == 303  # counted once already
    for n in range(SIGN_UPS.address.failures - 1):
        await throttle.count(db, f"someone{n}@acme.test", "127.0.0.1", NEW_WORKSPACES)
    answer = await new_workspace(web, **SECOND)
    assert answer.status_code == 429
    assert element(answer.text, "new-workspace-error") == (
        "Too many new workspaces in a short time. Try again in 60 minutes."
    )
    assert value_of(answer.text, "company") == SECOND["company"]
    assert await counts(db) == (1, 1)


async def test_without_signing_in_the_new_workspace_form_sends_to_sign_in_and_back(
    web: httpx.AsyncClient, db: Database
) -> None:
    async with db.global_transaction() as session:
        await accounts.register(
            session, email=GOOD["email"], password=GOOD["password"], display_name="Ada"
        )
    answer = await web.get(NEW, headers=HTML)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next={NEW}"

    page = await web.get(answer.headers["location"], headers=HTML)
    signed_in = await web.post(
        "/sign-in",
        data={
            "email": GOOD["email"],
            "password": GOOD["password"],
            "next": NEW,
            "_csrf_token": csrf(page),
        },
        headers=HTML,
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == NEW
    assert (await new_workspace(web, **SECOND)).status_code == 303
    assert await counts(db) == (1, 1)


async def test_a_new_workspace_without_the_csrf_token_is_refused(
    web: httpx.AsyncClient, db: Database
) -> None:
    assert (await submit(web)).status_code == 303
    await web.get(NEW, headers=HTML)  # has the CSRF cookie, but sends no token
    answer = await web.post(NEW, data=SECOND, headers=HTML)
    assert answer.status_code == 403
    assert await counts(db) == (1, 1)
