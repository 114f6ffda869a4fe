"""The app store and the onboarding checklist over real HTTP: the cards, enabling with its
confirmation, disabling (refused while another module needs it), who may change modules,
CSRF, and the checklist ticking its steps as the data appears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from core.context import TenantContext
from core.db import Database
from core.models import AuditEntry, Membership, Tenant, TenantModule, User
from tests.conftest import TEST_OWNER_EMAIL, Browser
from tests.web.test_recovery_pages import HTML, csrf, register


@pytest.fixture
async def bare(make_tenant) -> TenantContext:
    return await make_tenant("bare")


@pytest.fixture
async def owner(db: Database, browser: Browser, bare: TenantContext) -> httpx.AsyncClient:
    """The test owner (an owner of every workspace made here), in a browser."""
    async with db.global_transaction() as session:
        user = await session.scalar(select(User).where(User.email == TEST_OWNER_EMAIL))
    assert user is not None
    return await browser(user)


def card(page: httpx.Response, key: str) -> str:
    """The HTML of one module's card."""
    return page.text.split(f'id="app-{key}"')[1].split("</article>")[0]


async def confirm(
    http: httpx.AsyncClient, slug: str, key: str, action: str
) -> tuple[httpx.Response, httpx.Response]:
    """Open the confirmation page of ``action`` and submit its form."""
    page = await http.get(f"/t/{slug}/apps/{key}/{action}", headers=HTML)
    assert page.status_code == 200, page.text
    answer = await http.post(
        f"/t/{slug}/apps/{key}/{action}", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    return page, answer


async def _enabled(db: Database, ctx: TenantContext) -> set[str]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = await session.scalars(
            select(TenantModule.module_key).where(TenantModule.enabled.is_(True))
        )
        return set(rows)


async def test_cards_show_status_price_and_depends(owner, bare, make_tenant) -> None:
    await make_tenant("acme", "sample")
    page = await owner.get("/t/bare/apps", headers=HTML)
    assert page.status_code == 200
    sample, addon = card(page, "sample"), card(page, "sampleaddon")
    assert 'data-status="disabled"' in sample
    assert "Disabled" in sample
    assert "Free while Atrium is in early access" in sample
    assert "Nothing else" in sample  # sample depends on nothing
    assert "Sample" in addon.split('id="app-sampleaddon-depends">')[1].split("</dd>")[0]
    assert 'href="/t/bare/apps/sampleaddon/enable"' in addon
    assert 'id="development-mode"' in page.text
    enabled = card(await owner.get("/t/acme/apps", headers=HTML), "sample")
    assert 'data-status="enabled"' in enabled
    assert "Enabled: development mode, no payment" in enabled
    assert 'href="/t/acme/apps/sample/disable"' in enabled


async def test_the_menu_has_the_app_store(owner, bare) -> None:
    page = await owner.get("/t/bare/", headers=HTML)
    assert 'href="/t/bare/apps"' in page.text


async def test_enabling_an_addon_confirms_its_dependency_then_enables_both(
    owner, db: Database, bare
) -> None:
    page = await owner.get("/t/bare/apps/sampleaddon/enable", headers=HTML)
    assert "It needs these modules, which are enabled first:" in page.text
    assert "<li>Sample</li>" in page.text.split('id="enable-also-list"')[1]
    assert "nothing is charged" in page.text
    assert await _enabled(db, bare) == set()  # the confirmation page changes nothing
    answer = await owner.post(
        "/t/bare/apps/sampleaddon/enable", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/t/bare/apps?done=enabled&module=sampleaddon"
    assert await _enabled(db, bare) == {"sample", "sampleaddon"}
    store = await owner.get(answer.headers["location"], headers=HTML)
    assert "Sample add-on is enabled." in store.text
    assert 'data-status="enabled"' in card(store, "sample")
    assert "Needed by" in card(store, "sample")
    async with db.tenant_transaction(bare.tenant_id) as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "core.module.enabled")
        )
    assert entry is not None
    assert entry.detail["enabled"] == ["sample", "sampleaddon"]


async def test_disabling_a_module_others_need_is_refused_with_the_reason(
    owner, db: Database, make_tenant
) -> None:
    both = await make_tenant("both", "sampleaddon")
    page = await owner.get("/t/both/apps/sample/disable", headers=HTML)
    assert page.status_code == 200
    refused = page.text.split('id="disable-refused">')[1].split("</p>")[0]
    assert "Sample cannot be disabled while Sample add-on is enabled" in refused
    assert 'id="disable-form"' not in page.text
    posted = await owner.post(
        "/t/both/apps/sample/disable", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert posted.status_code == 409
    assert 'id="disable-refused"' in posted.text
    assert await _enabled(db, both) == {"sample", "sampleaddon"}


async def test_disable_then_enable_keeps_the_data(owner, db: Database, make_tenant) -> None:
    await make_tenant("acme", "sample")
    created = await owner.post("/api/t/acme/sample/notes/", json={"title": "kept"})
    assert created.status_code == 201
    page, answer = await confirm(owner, "acme", "sample", "disable")
    assert "Its data is kept, nothing is deleted" in page.text
    assert "nothing changes on your bill" in page.text
    assert answer.status_code == 303
    store = await owner.get(answer.headers["location"], headers=HTML)
    assert "Sample is disabled. Its data is kept." in store.text
    assert 'data-status="disabled"' in card(store, "sample")
    assert (await owner.get("/api/t/acme/sample/notes/")).status_code == 403
    _page, again = await confirm(owner, "acme", "sample", "enable")
    assert again.status_code == 303
    notes = (await owner.get("/api/t/acme/sample/notes/")).json()
    assert [n["title"] for n in notes] == ["kept"]


async def test_a_member_sees_the_store_but_cannot_change_modules(
    db: Database, browser: Browser, bare
) -> None:
    bea = await register(db, "bea@bare.test", "Bea")
    async with db.tenant_transaction(bare.tenant_id) as session:
        session.add(Membership(user_id=bea.id, role="member"))
    member = await browser(bea)
    page = await member.get("/t/bare/apps", headers=HTML)
    assert page.status_code == 200
    assert 'data-module="sample"' in page.text
    assert "/apps/sample/enable" not in page.text
    assert 'id="owners-only"' in page.text
    assert (await member.get("/t/bare/apps/sample/enable", headers=HTML)).status_code == 403
    token = csrf(page)
    for action in ("enable", "disable"):
        answer = await member.post(
            f"/t/bare/apps/sample/{action}", data={"_csrf_token": token}, headers=HTML
        )
        assert answer.status_code == 403
    assert await _enabled(db, bare) == set()


async def test_changes_without_the_csrf_token_are_refused(owner, db: Database, bare) -> None:
    for path in ("/t/bare/apps/sample/enable", "/t/bare/onboarding/demo"):
        assert (await owner.post(path, headers=HTML)).status_code == 403
    assert await _enabled(db, bare) == set()


async def test_an_unknown_module_is_404(owner, bare) -> None:
    assert (await owner.get("/t/bare/apps/nothing/enable", headers=HTML)).status_code == 404


async def test_a_trial_that_ran_out_is_unpaid_and_enabling_brings_it_back(
    owner, db: Database, bare
) -> None:
    ended = datetime.now(UTC) - timedelta(days=1)
    async with db.tenant_transaction(bare.tenant_id) as session:
        session.add(TenantModule(module_key="sample", enabled=True, source="trial", until=ended))
    store = await owner.get("/t/bare/apps", headers=HTML)
    sample = card(store, "sample")
    assert 'data-status="unpaid"' in sample
    assert "Trial ended on" in sample
    assert 'href="/t/bare/apps/sample/enable"' in sample
    _page, answer = await confirm(owner, "bare", "sample", "enable")
    assert answer.status_code == 303
    assert await _enabled(db, bare) == {"sample"}
    assert (await owner.get("/api/t/bare/sample/notes/")).status_code == 200


async def test_a_trial_shows_its_end(owner, db: Database, bare) -> None:
    ends = datetime(2099, 3, 5, tzinfo=UTC)
    async with db.tenant_transaction(bare.tenant_id) as session:
        session.add(TenantModule(module_key="sample", enabled=True, source="trial", until=ends))
    sample = card(await owner.get("/t/bare/apps", headers=HTML), "sample")
    assert "On trial until Mar 5, 2099" in sample
    chinese = await owner.get("/t/bare/apps?lang=zh-CN", headers=HTML)
    assert chinese.status_code == 200
    assert "2099年3月5日" in card(chinese, "sample")


# --- the onboarding checklist ----------------------------------------------------------------


def steps_done(page: httpx.Response) -> dict[str, bool]:
    checklist = page.text.split('id="onboarding-steps"')[1].split("</ol>")[0]
    return {
        chunk.split('"')[0]: 'data-done="true"' in chunk.split(">")[0]
        for chunk in checklist.split('id="step-')[1:]
    }


async def test_the_checklist_ticks_steps_as_the_data_appears(
    owner, db: Database, bare, browser: Browser
) -> None:
    page = await owner.get("/t/bare/", headers=HTML)
    assert steps_done(page) == {
        "company": False,
        "currency": False,  # the test workspace starts unseeded
        "colleagues": False,
        "module": False,
        "demo": False,
    }
    assert 'href="/t/bare/settings/company"' in page.text
    assert 'action="/t/bare/onboarding/demo"' in page.text

    async with db.global_transaction() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == bare.tenant_id).values(legal_name="Bare Ltd")
        )
    await confirm(owner, "bare", "sample", "enable")
    done = steps_done(await owner.get("/t/bare/", headers=HTML))
    assert done["company"]
    assert done["module"]
    assert not done["colleagues"]
    assert not done["demo"]

    invited = await owner.post("/api/t/bare/invitations", json={"email": "cai@bare.test"})
    assert invited.status_code in (200, 201), invited.text
    assert steps_done(await owner.get("/t/bare/", headers=HTML))["colleagues"]

    page = await owner.get("/t/bare/", headers=HTML)
    loaded = await owner.post(
        "/t/bare/onboarding/demo", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert loaded.status_code == 303
    assert loaded.headers["location"] == "/t/bare/?notice=demo"
    after = await owner.get(loaded.headers["location"], headers=HTML)
    assert 'id="demo-loaded"' in after.text
    assert 'id="onboarding"' not in after.text  # every step done: the checklist is gone


async def test_only_owners_and_admins_see_the_checklist(db: Database, browser: Browser, bare):
    bea = await register(db, "bea@bare.test", "Bea")
    async with db.tenant_transaction(bare.tenant_id) as session:
        session.add(Membership(user_id=bea.id, role="member"))
    member = await browser(bea)
    page = await member.get("/t/bare/", headers=HTML)
    assert page.status_code == 200
    assert 'id="onboarding"' not in page.text
    refused = await member.post(
        "/t/bare/onboarding/demo", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert refused.status_code == 403


async def test_hiding_the_checklist_is_remembered_in_this_browser(owner, bare) -> None:
    page = await owner.get("/t/bare/", headers=HTML)
    hidden = await owner.post(
        "/t/bare/onboarding/hide", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert hidden.status_code == 303
    page = await owner.get("/t/bare/", headers=HTML)
    assert 'id="onboarding"' not in page.text
    assert 'id="show-checklist-form"' in page.text
    shown = await owner.post(
        "/t/bare/onboarding/show", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert shown.status_code == 303
    assert 'id="onboarding"' in (await owner.get("/t/bare/", headers=HTML)).text
