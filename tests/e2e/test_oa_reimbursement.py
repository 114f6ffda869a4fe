"""An expense claim through OA's approvals, in a real browser: the admin builds the
reimbursement flow (the manager, then Finance only above 5,000, a colleague copied) and
previews it for two amounts; an employee files a claim with a receipt; the manager returns
it for changes; the employee fixes a line, adds a receipt and resubmits; the manager and
Finance approve; the employee sees it approved, and the colleague copied was told."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import Page, expect

from core import organisation
from core.db import Database
from core.identity import accounts
from core.models import Membership, User
from tests.e2e.conftest import NewContext, Shoot, at
from tests.e2e.test_operator_suspends import sign_in

ADMIN = ("Wang Fang", "wang.fang@lotus.example", "amber-river-quartz-58")
EMPLOYEE = ("Li Na", "li.na@lotus.example", "plum-harbour-lantern-47")
MANAGER = ("Zhao Lei", "zhao.lei@lotus.example", "cedar-meadow-piano-31")
FINANCE = ("Chen Jing", "chen.jing@lotus.example", "willow-copper-harbor-62")
COPIED = ("Sun Mei", "sun.mei@lotus.example", "maple-signal-orbit-75")
OA = "/t/lotus/oa"
FLOW = f"{OA}/approvals/flows/oa.form:expense"
PHONE = {"width": 390, "height": 844}
RECEIPT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # a PNG by its magic number


async def _account(db: Database, name: str, email: str, password: str) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(
            session, email=email, password=password, display_name=name, time_zone="Asia/Shanghai"
        )


async def _signed_in(new_context: NewContext, who: tuple[str, str, str], path: str, **kw) -> Page:
    page = await (await new_context(locale="en-GB", **kw)).new_page()
    await sign_in(page, path, who[1], who[2])
    await expect(page).to_have_url(at(path))
    return page


def _receipt(name: str) -> dict[str, object]:
    return {"name": name, "mimeType": "image/png", "buffer": RECEIPT}


async def _approve(page: Page, approval_url: str, comment: str) -> None:
    await page.goto(approval_url)
    await page.locator("#decide-form textarea[name=comment]").fill(comment)
    await page.locator("#approve").click()


async def test_an_expense_claim_is_returned_fixed_and_approved_by_two(
    new_context: NewContext, shoot: Shoot, db: Database, make_tenant
) -> None:
    await _account(db, *ADMIN)
    people = {who: await _account(db, *who) for who in (EMPLOYEE, MANAGER, FINANCE, COPIED)}
    ctx = await make_tenant("lotus", "oa", owner_email=ADMIN[1])
    async with db.tenant_transaction(ctx.tenant_id) as session:
        members = {who: Membership(user_id=user.id, role="member") for who, user in people.items()}
        session.add_all(members.values())
        await session.flush()
        await organisation.place_member(
            session, members[EMPLOYEE].id, department_id=None, manager_id=members[MANAGER].id
        )

    # The admin adds a Finance step for claims over 5,000 and copies Sun Mei, then previews.
    admin = await _signed_in(new_context, ADMIN, f"{OA}/approvals/flows")
    await admin.locator("#kind-oa-form-expense a").click()
    await expect(admin).to_have_url(at(FLOW))
    flow = admin.locator("#flow-form")
    await expect(flow.locator("input[name=name_1]")).to_have_value("Direct manager")
    await flow.locator("input[name=name_2]").fill("Finance")
    await flow.locator("select[name=approvers_2]").select_option("member")
    await flow.locator("select[name=members_2]").select_option(label=FINANCE[0])
    await flow.locator("select[name=cond_field_2]").select_option("amount")
    await flow.locator("select[name=cond_op_2]").select_option(">")
    await flow.locator("input[name=cond_value_2]").fill("5000")
    await flow.locator("select[name=cc]").select_option(label=COPIED[0])
    await flow.locator("select[name=requester]").select_option(label=EMPLOYEE[0])
    await flow.locator("input[name=field_amount]").fill("6800")
    await admin.locator("#preview-flow").click()
    preview = admin.locator("#flow-preview li")
    await expect(preview).to_have_count(2)
    await expect(preview.nth(0)).to_contain_text(MANAGER[0])
    await expect(preview.nth(1)).to_contain_text(f"Finance Any one approves (或签): {FINANCE[0]}")
    await shoot(admin, "flow-preview-above-5000")
    await admin.locator("#flow-form input[name=field_amount]").fill("3000")
    await admin.locator("#preview-flow").click()
    await expect(admin.locator("#flow-preview li")).to_have_count(1)
    await admin.locator("#save-flow").click()
    await expect(admin.locator("#flow-version")).to_contain_text("Version 1.")

    # Li Na files a claim of 6,800 with one receipt.
    employee = await _signed_in(new_context, EMPLOYEE, f"{OA}/forms")
    await employee.locator("#form-expense a").click()
    claim = employee.locator("#request-form")
    await claim.locator("[name='f.lines.1.date']").fill("2027-03-01")
    await claim.locator("[name='f.lines.1.category']").select_option("travel")
    await claim.locator("[name='f.lines.1.description']").fill("Train to Shanghai")
    await claim.locator("[name='f.lines.1.amount']").fill("4200")
    if await claim.locator("[name='f.lines.2.amount']").count() == 0:
        await employee.locator("#add-line-lines").click()
    await claim.locator("[name='f.lines.2.date']").fill("2027-03-02")
    await claim.locator("[name='f.lines.2.category']").select_option("lodging")
    await claim.locator("[name='f.lines.2.description']").fill("Hotel, two nights")
    await claim.locator("[name='f.lines.2.amount']").fill("2600")
    await claim.locator("[name='f.receipts']").set_input_files([_receipt("train.png")])
    await shoot(employee, "claim-filled-in")
    await employee.locator("#submit-request").click()
    await expect(employee.locator("#approval-status")).to_have_text("In approval")
    await expect(employee.locator("#total-lines")).to_contain_text("6,800.00")
    approval_url = employee.url
    instance_id = urlsplit(approval_url).path.rsplit("/", 1)[1]

    # The manager, on a phone, returns it: the hotel receipt is missing.
    manager = await _signed_in(new_context, MANAGER, f"{OA}/approvals", viewport=PHONE)
    await manager.locator(f"#approval-{instance_id} a").click()
    await expect(manager.locator("#form-values")).to_contain_text("Train to Shanghai")
    await manager.locator("#more-actions summary").click()
    returning = manager.locator("#return-form")
    await returning.locator("select[name=step]").select_option("")
    await returning.locator("textarea[name=comment]").fill("Please add the hotel receipt.")
    await shoot(manager, "manager-returns-on-a-phone")
    await returning.get_by_role("button", name="Return").click()
    await expect(manager.locator("#approval-status")).to_have_text("Returned for changes")

    # Li Na fixes the hotel line, adds its receipt and resubmits.
    await employee.goto(approval_url)
    await expect(employee.locator("#approval-status")).to_have_text("Returned for changes")
    await expect(employee.locator("#approval-timeline")).to_contain_text(
        "Please add the hotel receipt."
    )
    await employee.locator("#edit-request").click()
    await expect(employee.locator("#editing-note")).to_be_visible()
    fixing = employee.locator("#request-form")
    await expect(fixing.locator("[name='f.lines.1.description']")).to_have_value(
        "Train to Shanghai"
    )
    await fixing.locator("[name='f.lines.2.amount']").fill("2500")
    await fixing.locator("[name='f.receipts']").set_input_files([_receipt("hotel.png")])
    await fixing.locator("textarea[name=comment]").fill("Hotel receipt added; it was 2,500.")
    await employee.locator("#submit-request").click()
    await expect(employee.locator("#approval-status")).to_have_text("In approval")
    await expect(employee.locator("#total-lines")).to_contain_text("6,700.00")
    await expect(employee.locator("#form-values")).to_contain_text("hotel.png")

    # Two approvers complete it: the manager, then Finance (6,700 is over 5,000).
    await _approve(manager, approval_url, "Fine now.")
    await expect(manager.locator("#approval-status")).to_have_text("In approval")
    finance = await _signed_in(new_context, FINANCE, approval_url)
    await expect(finance.locator("#approve")).to_be_visible()
    await _approve(finance, approval_url, "Paid with this month's run.")
    await expect(finance.locator("#approval-status")).to_have_text("Approved")

    # Li Na sees the result; Sun Mei, copied, was told of the claim.
    await employee.goto(approval_url)
    await expect(employee.locator("#approval-status")).to_have_text("Approved")
    await expect(employee.locator("#approval-steps")).to_contain_text(FINANCE[0])
    await shoot(employee, "claim-approved")
    copied = await _signed_in(new_context, COPIED, "/t/lotus/notifications")
    told = copied.get_by_role("link", name=f"{EMPLOYEE[0]} copied you on an approval", exact=False)
    await expect(told).to_have_count(1)
    await told.click()
    await expect(copied).to_have_url(at(urlsplit(approval_url).path))
    await expect(copied.locator("#approval-status")).to_have_text("Approved")
