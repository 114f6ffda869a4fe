"""An operator suspends a workspace in a real browser, and its member, signed in in a
browser of their own, sees the suspended page with the reason."""

from __future__ import annotations

from playwright.async_api import Page, expect

from core.db import Database
from core.identity import accounts
from tests.e2e.conftest import NewContext, Shoot, at, translated

ZH = "zh-CN"
MEMBER = ("Li Na", "li.na@lotus.example", "plum-harbour-lantern-47")
OPERATOR = ("Sam Ops", "sam@atrium.example", "granite-kettle-violet-82")
REASON = "The invoice for March is unpaid."


async def _account(db: Database, name: str, email: str, password: str, locale: str) -> None:
    async with db.global_transaction() as session:
        await accounts.register(
            session, email=email, password=password, display_name=name, locale=locale
        )


async def sign_in(page: Page, path: str, email: str, password: str) -> None:
    """Open ``path`` signed out, and sign in on the page it sends the visitor to."""
    await page.goto(path)
    await page.locator('#sign-in input[name="email"]').fill(email)
    await page.locator('#sign-in input[name="password"]').fill(password)
    await page.locator("#sign-in button[type=submit]").click()


async def test_an_operator_suspends_a_workspace_and_its_member_sees_why(
    new_context: NewContext, shoot: Shoot, db: Database, make_tenant
) -> None:
    await _account(db, *MEMBER, locale=ZH)
    await _account(db, *OPERATOR, locale="en")
    async with db.global_transaction() as session:
        await accounts.grant_operator(session, OPERATOR[1])
    await make_tenant("globex", "sample")
    await make_tenant("lotus-trading", "sample", owner_email=MEMBER[1], locale=ZH)

    member = await (await new_context(locale=ZH)).new_page()
    await sign_in(member, "/t/lotus-trading/", MEMBER[1], MEMBER[2])
    await expect(member).to_have_url(at("/t/lotus-trading/"))
    await expect(member.locator("main h1")).to_have_text(translated(ZH, "Dashboard"))
    await expect(member.locator("#workspace-name")).to_have_text("Lotus-Trading")

    console = await (await new_context(locale="en-GB")).new_page()
    await sign_in(console, "/operator/", OPERATOR[1], OPERATOR[2])
    await expect(console).to_have_url(at("/operator/"))
    await expect(console.locator("#operator-console h1")).to_have_text("Operator console")
    await console.locator("#operator-nav").get_by_role("link", name="Workspaces").click()
    await expect(console.locator("#tenant-rows tr[data-slug]")).to_have_count(2)
    await console.get_by_label("Name or address").fill("lotus")
    await console.get_by_role("button", name="Filter").click()
    found = console.locator("#tenant-rows tr[data-slug]")
    await expect(found).to_have_count(1)
    await expect(found).to_have_attribute("data-slug", "lotus-trading")
    await expect(found).to_contain_text("Active")
    await shoot(console, "operator-finds-workspace")

    await found.get_by_role("link", name="Lotus-Trading").click()
    await expect(console.locator("#tenant-status")).to_have_attribute("data-status", "active")
    await expect(console.locator("#usage-active-members")).to_have_text("2")
    await shoot(console, "operator-workspace")
    await console.get_by_role("link", name="Suspend…").click()
    await expect(console.locator("#operator-suspend h2")).to_have_text("Suspend this workspace?")
    await console.get_by_label("Reason", exact=True).fill(REASON)
    await console.get_by_label("Show the reason to the workspace's members").check()
    await shoot(console, "operator-suspend-confirm")
    await console.get_by_role("button", name="Suspend the workspace").click()
    await expect(console.locator("#tenant-status")).to_have_attribute("data-status", "suspended")
    await expect(console.locator("#tenant-status")).to_have_text("Suspended")
    await expect(console.get_by_role("link", name="Reactivate…")).to_be_visible()
    await shoot(console, "operator-workspace-suspended")

    # The member's next page, in their own language, says so and why.
    await member.reload()
    suspended = member.locator("#workspace-suspended")
    await expect(suspended.locator("h1")).to_have_text(
        translated(ZH, "This workspace is suspended")
    )
    await expect(suspended.locator("#suspension-reason")).to_contain_text(REASON)
    await shoot(member, "member-sees-suspended")
