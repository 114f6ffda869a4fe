"""CRM from lead to cash in a real browser, in Chinese: a salesperson imports leads from an
Excel file whose one bad row is reported (nothing imported), fixes it and imports, converts
a lead (customer, contact, opportunity), drags the opportunity across the board, issues a
quote and downloads its PDF, turns it into a contract that a manager approves, and the
manager records a payment; a second salesperson cannot see the first one's customer.

The workspace as a small company would set it up: two salespeople (the built-in Member
role: their own records only) in two sales teams whose assignment rules send leads by
region, and a sales manager who is a workspace admin — the one who approves contracts
under core's default rule (owners and admins decide) and records money received, which
the Member role may not (``crm.payment.write``). The Member role imports nothing
(``core.data.import``), so the admin gave the salespeople a custom role with that one right.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from core import roles
from core.context import TenantContext
from core.db import Database
from core.exchange.imports import IMPORT_PERMISSION
from core.identity import passwords
from core.models import MemberRole, Membership, User
from core.plugins.registry import ModuleRegistry
from core.products import services as catalogue
from modules.crm.models import Opportunity, Stage
from modules.crm.schemas.leads import RuleIn, TeamIn, TeamMemberIn
from modules.crm.services import assignment
from tests.e2e.conftest import NewContext, Shoot, at, translated
from tests.modules.crm.conftest import SalesFloor

ZH = "zh-CN"
SLUG = "mingcha"
HEADERS = ("姓名", "公司", "职位", "邮箱", "电话", "来源", "地区")
LEADS = [
    (
        "陈静",
        "杭州明茶有限公司",
        "采购经理",
        "chen.jing@mingcha.example",
        "13800000001",
        "展会",
        "浙江",
    ),
    ("刘洋", "宁波云织科技", "总经理", "liu.yang@yunzhi.example", "13800000002", "转介绍", "浙江"),
    ("周敏", "温州海港物流", "运营总监", "zhou.min@haigang.example", "13800000003", "广告", "浙江"),
]
BAD_EMAIL = "zhou.min-at-haigang"  # the third row's address as first typed
CUSTOMER = LEADS[0][1]
OPPORTUNITY = "明茶 2027 年度采购"
PRODUCT = ("TEA-LJ-500", "龙井礼盒 500g", "6000.00")


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    password: str
    user_id: uuid.UUID


@dataclass(frozen=True)
class Company:
    ctx: TenantContext
    seller: Person  # salesperson A, team East
    other_seller: Person  # salesperson B, team South
    manager: Person  # admin: approves contracts, records payments
    product_id: uuid.UUID


async def _person(
    db: Database,
    ctx: TenantContext,
    name: str,
    email: str,
    role: str,
    extra_role: uuid.UUID | None = None,
) -> tuple[Person, uuid.UUID]:
    """A member who signs in with a password; ``extra_role``: a custom role beside ``role``."""
    password = f"{email.split('@')[0]}-tea-garden-2026"
    async with db.global_transaction() as session:
        user = User(
            email=email,
            display_name=name,
            locale=ZH,
            password_hash=passwords.hash_password(password),
        )
        session.add(user)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        membership = Membership(user_id=user.id, role=role)
        session.add(membership)
        await session.flush()
        if extra_role is not None:
            session.add(MemberRole(membership_id=membership.id, role_id=extra_role))
    return Person(name, email, password, user.id), membership.id


@pytest.fixture
async def company(db: Database, make_tenant, registry: ModuleRegistry) -> Company:
    """A tea trader with CRM on, its people, two sales teams with rules by region, and a
    product to quote."""
    ctx = await make_tenant(SLUG, "crm", seed=True, locale=ZH)
    floor = SalesFloor(db, registry, ctx)
    async with floor.session() as session:
        # The Member role imports nothing: the admin lets salespeople import their leads.
        importing = await roles.create_role(
            session, registry, name="导入线索", permissions=[IMPORT_PERMISSION], scopes={}
        )
    seller, _ = await _person(
        db, ctx, "王芳", "wang.fang@mingcha.example", roles.MEMBER, importing.id
    )
    other, _ = await _person(
        db, ctx, "李强", "li.qiang@mingcha.example", roles.MEMBER, importing.id
    )
    manager, manager_membership = await _person(
        db, ctx, "赵敏", "zhao.min@mingcha.example", roles.ADMIN
    )
    admin = await floor.actor(manager_membership)
    async with floor.session() as session:
        for team_name, region, member in (
            ("华东销售", "浙江", seller),
            ("华南销售", "广东", other),
        ):
            team = await assignment.create_team(session, admin, TeamIn(name=team_name))
            await assignment.add_member(
                session, admin, team.id, TeamMemberIn(user_id=member.user_id)
            )
            await assignment.create_rule(
                session,
                admin,
                RuleIn(name=f"{region} → {team_name}", team_id=team.id, region=region),
            )
        unit = await catalogue.unit_by_code(session, "pcs")
        sku, name, price = PRODUCT
        product = await catalogue.create_product(
            session, sku=sku, name=name, uom_id=unit.id, sale_price=Decimal(price)
        )
    return Company(ctx, seller, other, manager, product.id)


def leads_file(folder: Path, name: str, rows: list[tuple[str, ...]]) -> Path:
    """An Excel workbook as a salesperson saves it: a header row, then the leads."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    path = folder / name
    book.save(path)
    return path


async def sign_in(context: BrowserContext, person: Person, path: str) -> Page:
    """Open ``path``, which asks to sign in first; sign in and land on it."""
    page = await context.new_page()
    await page.goto(path)
    form = page.locator("#sign-in")
    await expect(form.locator("h1")).to_have_text(translated(ZH, "Sign in"))
    await form.locator('input[name="email"]').fill(person.email)
    await form.locator('input[name="password"]').fill(person.password)
    await form.locator('button[type="submit"]').click()
    await expect(page).to_have_url(at(path))
    await expect(page.locator("#user-menu .user-name")).to_have_text(person.name)
    return page


async def upload_and_check(page: Page, path: Path) -> None:
    """Steps 1 to 3 of core's import for leads: the file, the suggested mapping, the check."""
    await expect(page.locator("#import-start")).to_be_visible()
    await expect(page.locator('[id="kind-crm.leads"]')).to_be_checked()
    await page.locator("#import-file").set_input_files(path)
    await page.locator("#upload-file").click()
    await expect(page.locator("#import-mapping")).to_be_visible()
    await expect(page.locator("#column-0")).to_have_value("name")  # 姓名 is the name
    await expect(page.locator("#column-3")).to_have_value("email")
    await page.locator("#check-file").click()
    await expect(page.locator("#import-report")).to_be_visible()


async def import_leads(page: Page, shoot: Shoot, folder: Path) -> None:
    """A file with a bad row is reported and writes nothing; the fixed file imports."""
    await expect(page.locator("#no-leads")).to_be_visible()
    await page.locator("#import-leads").click()
    bad = [*LEADS[:2], (*LEADS[2][:3], BAD_EMAIL, *LEADS[2][4:])]
    await upload_and_check(page, leads_file(folder, "线索-初稿.xlsx", bad))
    report = page.locator("#import-report")
    await expect(report.locator(".bad-row")).to_have_count(1)
    bad_row = report.locator(".bad-row").first
    await expect(bad_row).to_have_attribute("data-row", "4")  # the header is row 1
    await expect(bad_row).to_contain_text("邮箱")
    await expect(report.locator("#fix-rows")).to_be_visible()
    await expect(report.locator("#import-form")).to_have_count(0)  # nothing to send
    await shoot(page, "import-bad-row")
    await page.goto(f"/t/{SLUG}/crm/leads")
    await expect(page.locator("#no-leads")).to_be_visible()  # nothing was imported

    await page.locator("#import-leads").click()
    await upload_and_check(page, leads_file(folder, "线索.xlsx", LEADS))
    await expect(report.locator(".bad-row")).to_have_count(0)
    await shoot(page, "import-checked")
    await report.locator("#import-rows").click()
    await expect(page.locator("#import-done")).to_be_visible()
    await expect(page.locator("#import-result")).to_contain_text("3")
    await shoot(page, "import-done")
    await page.locator("#to-list").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/crm/leads"))
    rows = page.locator("#lead-rows tr[id^=lead-]")
    await expect(rows).to_have_count(3)
    for lead in LEADS:  # every lead went to the East team's only salesperson
        await expect(rows.filter(has_text=lead[0])).to_contain_text("王芳")
    await shoot(page, "leads")


async def convert_lead(page: Page, shoot: Shoot) -> uuid.UUID:
    """The first lead becomes a customer with its contact and an opportunity; returns the
    customer's party id."""
    await page.locator("#lead-rows tr").filter(has_text=LEADS[0][0]).locator("a").click()
    await expect(page.locator("#lead h1")).to_contain_text(LEADS[0][0])
    await page.locator("#convert-lead").click()
    form = page.locator("#convert-form")
    await expect(form.locator('input[name="company_name"]')).to_have_value(CUSTOMER)
    await expect(form.locator('input[name="create_contact"]')).to_be_checked()
    await form.locator('input[name="create_opportunity"]').check()
    await form.locator('input[name="opportunity_name"]').fill(OPPORTUNITY)
    await form.locator('input[name="amount"]').fill("12000")
    await form.locator('input[name="expected_close_on"]').fill("2027-03-31")
    await shoot(page, "convert")
    await form.locator("#convert").click()
    await expect(page.locator("#converted-notice")).to_be_visible()
    await expect(page.locator("#converted-customer")).to_have_text(CUSTOMER)
    await expect(page.locator("#converted-contact")).to_have_text(LEADS[0][0])
    await shoot(page, "converted")
    href = await page.locator("#converted-customer").get_attribute("href") or ""
    return uuid.UUID(href.rstrip("/").rsplit("/", 1)[-1])


async def move_on_board(page: Page, shoot: Shoot, db: Database, company: Company) -> uuid.UUID:
    """Drag the opportunity from the first stage to the third; it stays there. Returns it."""
    async with db.tenant_transaction(company.ctx.tenant_id) as session:
        stages = list(await session.scalars(select(Stage).order_by(Stage.sequence)))
        deal = await session.scalar(select(Opportunity).where(Opportunity.name == OPPORTUNITY))
    assert deal is not None
    assert deal.stage_id == stages[0].id
    first, target = page.locator(f"#stage-{stages[0].id}"), page.locator(f"#stage-{stages[2].id}")
    await page.goto(f"/t/{SLUG}/crm/opportunities")
    await page.locator("#board-link").click()
    await expect(page.locator("#board-head h1")).to_contain_text(
        translated(ZH, "Opportunity board")
    )
    card = page.locator(f"#card-{deal.id}")
    await expect(first.locator(f"#card-{deal.id}")).to_be_visible()
    await shoot(page, "board")
    # Held by its top-left corner (its padding), not by the link or the select inside it.
    await card.drag_to(target.locator("h2"), source_position={"x": 4, "y": 4})
    await expect(target.locator(f"#card-{deal.id}")).to_be_visible()
    await expect(first.locator(f"#card-{deal.id}")).to_have_count(0)
    await expect(target.locator(".board-total")).to_contain_text("1")
    await shoot(page, "board-moved")
    await page.reload()
    await expect(target.locator(f"#card-{deal.id}")).to_be_visible()
    await expect(first.locator(f"#card-{deal.id}")).to_have_count(0)
    return deal.id


async def issue_quote(page: Page, shoot: Shoot, deal_id: uuid.UUID, product_id: uuid.UUID) -> str:
    """A quote from the opportunity, with a line; sent, its PDF downloaded, accepted.
    Returns its total as the page shows it."""
    await page.locator(f"#card-{deal_id} a").first.click()
    await expect(page.locator("#opportunity h1")).to_contain_text(OPPORTUNITY)
    await page.locator("#new-quote").click()
    await expect(page.locator("#quote-form-page")).to_contain_text(OPPORTUNITY)
    await page.locator("#create-quote").click()
    await expect(page.locator("#quote-status")).to_have_text(translated(ZH, "Draft"))
    line = page.locator("#line-form")
    await line.locator('select[name="product_id"]').select_option(str(product_id))
    await line.locator('input[name="quantity"]').fill("2")
    await line.locator('button[type="submit"]').click()
    await expect(page.locator("#quote-line-list tbody")).to_contain_text(PRODUCT[1])
    total = (await page.locator("#quote-total").inner_text()).strip()
    assert total == "¥13,560.00"  # 2 × 6,000.00 and the workspace's default 13 % VAT
    send = page.locator("#send-form")
    await send.locator('input[name="to"]').fill(LEADS[0][3])
    await shoot(page, "quote-draft")
    await send.locator('button[type="submit"]').click()
    await expect(page.locator("#quote-status")).to_have_text(translated(ZH, "Sent"))

    async with page.expect_download() as downloading:
        await page.locator("#quote-pdf").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = await download.path()
    with pdf.open("rb") as file:
        assert file.read(5) == b"%PDF-"

    asked: list[str] = []

    async def confirm(dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", confirm)
    await page.locator("#accept-form button").click()
    await expect(page.locator("#quote-status")).to_have_text(translated(ZH, "Accepted"))
    page.remove_listener("dialog", confirm)
    assert asked == [translated(ZH, "The customer accepted this quote?")]
    await shoot(page, "quote-accepted")
    return total


async def write_contract(page: Page, shoot: Shoot, total: str) -> str:
    """The accepted quote becomes a draft contract with a plan of two installments, sent
    for approval. Returns the contract's path."""
    await page.locator("#make-contract").click()
    await expect(page.locator("#contract-form")).to_be_visible()
    await page.locator("#save-contract").click()
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Draft"))
    await expect(page.locator("#contract-amount")).to_have_text(total)
    split = page.locator("#split-form")
    await split.locator('input[name="count"]').fill("2")
    await split.locator('button[type="submit"]').click()
    await expect(page.locator("#installments tbody tr[id^=installment-]")).to_have_count(2)
    await shoot(page, "contract-draft")
    await page.locator("#submit-form button").click()
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Pending approval"))
    await expect(page.locator("#waiting-for-approval")).to_be_visible()
    await expect(page.locator("#decide-form")).to_have_count(0)  # a salesperson does not decide
    return page.url.removeprefix(page.url.split("/t/", 1)[0])


async def manager_approves(page: Page, shoot: Shoot, contract_path: str) -> None:
    await expect(page.locator("#approvals-waiting")).to_contain_text("1")
    await page.goto(f"/t/{SLUG}/crm/contracts")
    await page.locator(f'a[href="{contract_path}"]').first.click()
    await expect(page).to_have_url(at(contract_path))
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Pending approval"))
    decide = page.locator("#decide-form")
    await decide.locator('textarea[name="comment"]').fill("价格与折扣符合规定，同意。")
    await shoot(page, "contract-to-approve")
    await decide.locator("#approve-contract").click()
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Approved"))
    await expect(page.locator("#record-timeline")).to_contain_text("价格与折扣符合规定")
    await expect(page.locator("#approvals-waiting")).to_have_count(0)


async def seller_signs(page: Page, shoot: Shoot) -> None:
    await page.reload()
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Approved"))
    await page.locator("#sign-form button").click()
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Signed"))
    # Money received is recorded by the manager, not by the salesperson.
    await expect(page.locator("form[id^=pay-]")).to_have_count(0)
    await shoot(page, "contract-signed")


async def manager_records_payment(page: Page, shoot: Shoot) -> str:
    """The first installment paid in full by bank transfer; returns its amount as shown."""
    await page.reload()
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Signed"))
    first = page.locator("#installment-1")
    amount = (await first.locator("td").nth(2).inner_text()).strip()
    await page.locator("#contract-plan details summary").first.click()
    pay = page.locator("form[id^=pay-]").first
    await expect(pay.locator('input[name="amount"]')).to_be_visible()
    await pay.locator('input[name="reference"]').fill("招行回单 20260412-001")
    await shoot(page, "payment-form")
    await pay.locator('button[type="submit"]').click()
    await expect(first).to_contain_text(translated(ZH, "Paid in full"))
    await expect(page.locator("#installment-2")).to_contain_text(translated(ZH, "Outstanding"))
    await expect(page.locator("#contract-received")).to_have_text(amount)
    await expect(page.locator("#contract-status")).to_have_text(translated(ZH, "Signed"))
    await shoot(page, "payment-recorded")
    return amount


async def test_a_lead_becomes_a_paid_contract_and_stays_its_sellers(
    new_context: NewContext, shoot: Shoot, db: Database, company: Company, tmp_path: Path
) -> None:
    seller = await new_context(locale=ZH)
    page = await sign_in(seller, company.seller, f"/t/{SLUG}/crm/leads")
    await import_leads(page, shoot, tmp_path)
    customer_id = await convert_lead(page, shoot)
    deal_id = await move_on_board(page, shoot, db, company)
    total = await issue_quote(page, shoot, deal_id, company.product_id)
    contract_path = await write_contract(page, shoot, total)

    manager = await new_context(locale=ZH)
    boss = await sign_in(manager, company.manager, f"/t/{SLUG}/")
    await manager_approves(boss, shoot, contract_path)
    await seller_signs(page, shoot)
    received = await manager_records_payment(boss, shoot)

    await page.reload()  # the salesperson sees the money come in
    await expect(page.locator("#contract-received")).to_have_text(received)
    await expect(page.locator("#contract-payments tbody tr[id^=payment-]")).to_have_count(1)
    await expect(page.locator("#contract-payments")).to_contain_text("招行回单 20260412-001")
    await page.goto(f"/t/{SLUG}/crm/customers")
    await expect(page.locator(f"#customer-{customer_id}")).to_contain_text(CUSTOMER)
    await shoot(page, "customers-seller")

    other = await new_context(locale=ZH)
    colleague = await sign_in(other, company.other_seller, f"/t/{SLUG}/crm/customers")
    await expect(colleague.locator("#customer-list")).to_be_visible()
    await expect(colleague.locator(f"#customer-{customer_id}")).to_have_count(0)
    await expect(colleague.locator("#customer-list")).not_to_contain_text(CUSTOMER)
    await shoot(colleague, "customers-colleague")
    refused = await colleague.goto(f"/t/{SLUG}/crm/customers/{customer_id}")
    assert refused is not None
    assert refused.status == 404
    await expect(colleague.locator("#error")).to_be_visible()
    await expect(colleague.locator("main")).not_to_contain_text(CUSTOMER)
    await shoot(colleague, "customer-refused")
