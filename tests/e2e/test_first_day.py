"""A company's first day in a real browser: a visitor signs up in Chinese, confirms the
address from the development mailbox, ticks through the dashboard's setup checklist
(company details, a colleague invited who joins from a second browser, a module switched
on and off in the app store, demo data), tries English and back, and signs out.
And the dashboard at phone width."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Locator, Page, expect

from core.db import Database
from tests.e2e.conftest import WAIT_MS, NewContext, Shoot, at, html_lang, translated

ZH = "zh-CN"
COMPANY = "Lotus Trading"
SLUG = "lotus-trading"
OWNER = ("Li Na", "li.na@lotus.example", "plum-harbour-lantern-47")
COLLEAGUE = ("Wang Wei", "wang.wei@lotus.example", "quiet-orchard-maple-93")


async def mailed_link(page: Page, recipient: str, path: str) -> str:
    """The link to ``path`` in the newest mail to ``recipient`` in the development mailbox.

    Mail leaves once the transaction commits, in the background: the mailbox is
    reloaded until the mail is there (at most the usual wait)."""
    mail = page.locator("#mailbox article").filter(has_text=recipient)
    link = mail.first.locator(f'a[href*="{path}"]')
    for _ in range(WAIT_MS // 100):
        await page.goto("/dev/mailbox")
        if await link.count():
            return await link.first.get_attribute("href") or ""
        await page.wait_for_timeout(100)
    raise AssertionError(f"no mail to {recipient} with a {path} link in the mailbox")


async def choose_language(page: Page, locale: str) -> None:
    await page.locator("#user-menu > summary").click()
    await page.locator(f'#language-form button[lang="{locale}"]').click()
    await expect(page.locator("html")).to_have_attribute("lang", locale)


async def sign_up(page: Page, shoot: Shoot) -> None:
    await page.goto("/")
    assert await html_lang(page) == ZH  # the browser asks for Chinese
    await expect(page.locator("#intro h1")).to_have_text("Atrium")
    await shoot(page, "landing")
    await page.locator("#start-free").click()
    await expect(page).to_have_url(at("/sign-up"))
    await expect(page.locator("#sign-up h1")).to_have_text(translated(ZH, "Create your workspace"))
    name, email, password = OWNER
    # The page came by a boosted (htmx) navigation: type only once htmx has wired its inputs.
    await page.wait_for_function(
        "() => document.querySelector('input[name=company]')?.['htmx-internal-data'] != null"
    )
    await page.get_by_label(translated(ZH, "Company name")).fill(COMPANY)
    # The address follows the company name as it is typed, checked live.
    await expect(page.locator('input[name="slug"]')).to_have_value(SLUG)
    await expect(page.locator("#slug-status")).to_have_attribute("data-state", "available")
    await page.get_by_label(translated(ZH, "Your name")).fill(name)
    await page.get_by_label(translated(ZH, "E-mail address")).fill(email)
    await page.get_by_label(translated(ZH, "Password")).fill(password)
    await expect(page.locator('select[name="locale"]')).to_have_value(ZH)
    await shoot(page, "sign-up")
    await page.get_by_role("button", name=translated(ZH, "Create workspace")).click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/"))
    await expect(page.locator("#workspace-name")).to_have_text(COMPANY)
    await expect(page.locator("#user-menu .user-name")).to_have_text(name)


async def verify_email(page: Page, shoot: Shoot) -> None:
    email = OWNER[1]
    link = await mailed_link(page, email, "/verify-email/")
    await expect(page.locator("#mailbox h1")).to_have_text(translated(ZH, "Development mailbox"))
    await shoot(page, "mailbox")
    await page.goto(link)
    await expect(page.locator("#verify-email h1")).to_have_text(
        translated(ZH, "Confirm your e-mail address")
    )
    await page.locator("#confirm-email button").click()
    await expect(page.locator("#email-verified h1")).to_have_text(
        translated(ZH, "E-mail address confirmed")
    )
    await expect(page.locator("#email-verified")).to_contain_text(email)


async def step(page: Page, key: str) -> Locator:
    """A step of the dashboard's setup checklist (``company``, ``colleagues``, …)."""
    await page.goto(f"/t/{SLUG}/")
    return page.locator(f"#onboarding-steps #step-{key}")


async def fill_in_company(page: Page, shoot: Shoot) -> None:
    """The checklist's first step: the company's details, in the workspace settings."""
    await expect(page.locator("main h1")).to_have_text(translated(ZH, "Dashboard"))
    await expect(page.locator("#onboarding h2")).to_have_text(
        translated(ZH, "Get your workspace ready")
    )
    for key in ("company", "colleagues", "module", "demo"):
        await expect(page.locator(f"#step-{key}")).to_have_attribute("data-done", "false")
    await shoot(page, "onboarding")
    await page.locator("#step-company a").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/settings/company"))
    company = page.locator("#settings-company")
    await expect(company.locator("#profile-name")).to_have_value(COMPANY)
    await company.locator("#profile-legal_name").fill("Lotus Trading Co., Ltd.")
    await company.locator("#profile-city").fill("Hangzhou")
    await company.locator("#save-profile").click()
    await expect(page.locator("#settings-company .saved")).to_have_text(translated(ZH, "Saved."))
    await page.reload()
    await expect(page.locator("#profile-legal_name")).to_have_value("Lotus Trading Co., Ltd.")
    await expect(await step(page, "company")).to_have_attribute("data-done", "true")


async def invite_colleague(page: Page, shoot: Shoot) -> str:
    """The owner invites the colleague; returns the invitation's link from the mailbox."""
    email = COLLEAGUE[1]
    await (await step(page, "colleagues")).locator("a").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/members"))
    await expect(page.locator("#members h1")).to_have_text(translated(ZH, "Members"))
    await page.locator('#invite-form input[name="email"]').fill(email)
    await page.locator("#invite-form select[name=role]").select_option("member")
    await page.locator("#invite-form button").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/members"))
    waiting = page.locator("#invitation-list tbody tr").filter(has_text=email)
    await expect(waiting).to_contain_text(translated(ZH, "Member"))
    await shoot(page, "members-invitation")
    return await mailed_link(page, email, "/invitations/")


async def colleague_accepts(colleague: BrowserContext, link: str, shoot: Shoot) -> None:
    """In a browser of their own (English), the colleague makes an account and joins."""
    name, email, password = COLLEAGUE
    page = await colleague.new_page()
    await page.goto(link)
    assert await html_lang(page) == "en"
    await expect(page.locator("#invitation h1")).to_have_text(f"Join {COMPANY}")
    await expect(page.locator("#invitation")).to_contain_text(
        f"{OWNER[0]} invited {email} to the workspace {COMPANY} as Member."
    )
    await page.get_by_label("Your name").fill(name)
    await page.get_by_label("Password").fill(password)
    await shoot(page, "colleague-accepts")
    await page.get_by_role("button", name="Create account and join").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/"))
    await expect(page.locator("#workspace-name")).to_have_text(COMPANY)
    await expect(page.locator("#user-menu .user-name")).to_have_text(name)
    await expect(page.locator("main h1")).to_have_text("Dashboard")
    await expect(page.locator("#onboarding")).to_have_count(0)  # a member sets nothing up


async def enable_and_disable_module(page: Page, shoot: Shoot) -> None:
    """From the checklist to the app store: Sample on, its page, Sample off (its page then
    says so and offers to switch it back on, which the owner does)."""
    sample_menu = page.locator('#module-nav a[data-module="sample"]')
    await (await step(page, "module")).locator("a").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/apps"))
    card = page.locator("#app-sample")
    await expect(card).to_have_attribute("data-status", "disabled")
    await expect(sample_menu).to_have_count(0)
    await card.locator("#enable-sample").click()
    await expect(page.locator("#confirm-enable h1")).to_contain_text("Sample")
    await page.locator("#confirm-enable-button").click()
    await expect(page.locator("#app-store-notice")).to_contain_text("Sample")
    await expect(card).to_have_attribute("data-status", "enabled")
    await shoot(page, "app-store")
    await sample_menu.click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/sample/"))
    await shoot(page, "module-page")

    await page.goto(f"/t/{SLUG}/apps")
    await card.locator("#disable-sample").click()
    await expect(page.locator("#confirm-disable h1")).to_contain_text("Sample")
    await page.locator("#confirm-disable-button").click()
    await expect(page.locator("#app-store-notice")).to_contain_text("Sample")
    await expect(card).to_have_attribute("data-status", "disabled")
    await expect(sample_menu).to_have_count(0)
    await page.goto(f"/t/{SLUG}/sample/")
    await expect(page.locator("#module-disabled h1")).to_have_text(
        translated(ZH, "This module is not enabled")
    )
    await shoot(page, "module-disabled")
    await page.locator("#module-disabled button").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/sample/"))
    await expect(sample_menu).to_be_visible()


async def load_demo_data(page: Page) -> None:
    """The checklist's last step; with every step done, the checklist goes away."""
    await (await step(page, "demo")).locator("#load-demo").click()
    await expect(page.locator("#demo-loaded")).to_be_visible()
    await expect(page.locator("#onboarding")).to_have_count(0)
    await expect(page.locator("#widget-sample-count")).to_contain_text("3")  # Sample's demo notes


async def test_a_visitor_signs_up_and_sets_up_the_workspace(
    new_context: NewContext, shoot: Shoot
) -> None:
    owner = await new_context(locale=ZH)
    page = await owner.new_page()
    await sign_up(page, shoot)
    await verify_email(page, shoot)
    await page.goto(f"/t/{SLUG}/")
    await fill_in_company(page, shoot)
    link = await invite_colleague(page, shoot)
    await colleague_accepts(await new_context(locale="en-GB"), link, shoot)
    await expect(await step(page, "colleagues")).to_have_attribute("data-done", "true")
    await page.goto(f"/t/{SLUG}/members")
    await expect(page.locator("#member-list")).to_contain_text(COLLEAGUE[1])
    await enable_and_disable_module(page, shoot)
    await load_demo_data(page)

    await page.goto(f"/t/{SLUG}/")
    await choose_language(page, "en")
    await expect(page).to_have_url(at(f"/t/{SLUG}/"))  # back on the dashboard
    await expect(page.locator("main h1")).to_have_text("Dashboard")
    await expect(page.locator('#module-nav a[data-module="sample"]')).to_have_text("Notes")
    await shoot(page, "dashboard-en")
    await choose_language(page, ZH)
    await expect(page.locator("main h1")).to_have_text(translated(ZH, "Dashboard"))
    await shoot(page, "dashboard-zh")
    # The choice is the person's own: a new page keeps it.
    await page.reload()
    assert await html_lang(page) == ZH

    await page.locator("#user-menu > summary").click()
    await page.locator("#sign-out-form button").click()
    await expect(page).to_have_url(at("/sign-in"))
    await expect(page.locator("#sign-in h1")).to_have_text(translated(ZH, "Sign in"))
    await page.goto(f"/t/{SLUG}/")
    await expect(page.locator("#sign-in")).to_be_visible()  # signed out: the workspace asks again


NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= window.innerWidth"


async def phone_dashboard(
    new_context: NewContext, site: str, make_tenant, db: Database, sign_in
) -> Page:
    """The owner's dashboard on a 375×740 phone, signed in."""
    from core.identity import accounts
    from web.auth import SESSION_COOKIE

    await make_tenant(SLUG, "sample", owner_email=OWNER[1])
    async with db.global_transaction() as session:
        user = await accounts.by_email(session, OWNER[1])
    phone = await new_context(viewport={"width": 375, "height": 740}, locale="en-GB")
    session_cookie = {"name": SESSION_COOKIE, "value": await sign_in(user.id), "url": site}
    await phone.add_cookies([session_cookie])
    page = await phone.new_page()
    await page.goto(f"/t/{SLUG}/")
    await expect(page.locator("main h1")).to_have_text("Dashboard")
    return page


async def test_the_dashboard_fits_a_phone(
    new_context: NewContext, shoot: Shoot, site: str, make_tenant, db: Database, sign_in
) -> None:
    page = await phone_dashboard(new_context, site, make_tenant, db, sign_in)
    menu = page.locator("#module-menu")
    await expect(menu.locator("summary")).to_be_visible()
    await expect(page.locator("#module-nav")).to_be_hidden()
    await expect(menu.locator('a[data-module="sample"]')).to_be_hidden()  # collapsed
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await shoot(page, "dashboard-phone")
    await page.locator("#user-menu > summary").click()
    await expect(page.locator("#sign-out-form button")).to_be_visible()
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await shoot(page, "dashboard-phone-user-menu")


async def test_the_open_module_menu_fits_a_phone(
    new_context: NewContext, shoot: Shoot, site: str, make_tenant, db: Database, sign_in
) -> None:
    page = await phone_dashboard(new_context, site, make_tenant, db, sign_in)
    menu = page.locator("#module-menu")
    await menu.locator("summary").click()
    await expect(menu.locator('a[data-module="sample"]')).to_be_visible()
    await shoot(page, "dashboard-phone-module-menu")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
