"""The contract, payment, ticket and target pages over real HTTP, as a browser posts them:
each refusal beside its input with what was typed kept (4xx, nothing written), each
accepted form back to its page, the overdue flags, a Member's 403 and another
workspace's 404."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from core import approvals, roles
from core.db import Database
from modules.crm.models import Contract, Target, Ticket
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.web.test_every_form import PageReader, refusals
from tests.web.test_parties_api import HTML, join, make_party, the_test_owner, user
from tests.web.test_recovery_pages import csrf

PAGES = "/t/acme/crm"


async def opened(http: httpx.AsyncClient, url: str) -> httpx.Response:
    page = await http.get(url, headers=HTML)
    assert page.status_code == 200, page.text
    return page


async def send(http: httpx.AsyncClient, page_url: str, target: str, **fields: str):
    """Open ``page_url`` (for its CSRF token) and post ``fields`` to ``target``."""
    token = csrf(await opened(http, page_url))
    return await http.post(target, data={"_csrf_token": token, **fields}, headers=HTML)


def error_beside(page: httpx.Response, form: str, field: str) -> str:
    assert f'aria-describedby="{form}-{field}-error"' in page.text
    return page.text.split(f'id="{form}-{field}-error">')[1].split("</p>")[0]


def form_error(page: httpx.Response, form: str) -> str:
    """The message of a refusal that belongs to the whole form, not one input."""
    return page.text.split(f'id="{form}-form-error">')[1].split("</p>")[0]


async def count(floor: SalesFloor, model: type) -> int:
    async with floor.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def owner_browser(db: Database, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def new_contract(http: httpx.AsyncClient, party_id: str, amount: str = "3000.00") -> str:
    answer = await send(
        http,
        f"{PAGES}/contracts/new?customer_id={party_id}",
        f"{PAGES}/contracts/new",
        title="Tea supply",
        party_id=party_id,
        amount=amount,
        discount_percent="0",
        starts_on="",
        ends_on="",
        terms="",
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def test_a_contract_is_written_planned_signed_and_paid_through_its_pages(
    db: Database, floor: SalesFloor, browser: Browser
) -> None:
    owner = await owner_browser(db, browser)
    empty = await opened(owner, f"{PAGES}/contracts")
    assert 'id="no-contracts"' in empty.text
    party = await make_party(owner, "Hangzhou Tea Co.", is_customer=True)

    refused = await send(
        owner,
        f"{PAGES}/contracts/new",
        f"{PAGES}/contracts/new",
        title="  ",
        party_id=party["id"],
        amount="12,5",
        terms="Monthly delivery",
    )
    assert refused.status_code == 422
    assert "12,5 is not a number." in error_beside(refused, "contract", "amount")
    assert "Monthly delivery" in refused.text  # the typing is kept
    assert await count(floor, Contract) == 0

    here = await new_contract(owner, party["id"])
    page = await opened(owner, here)
    assert "Tea supply" in page.text
    assert 'id="no-plan"' in page.text
    async with floor.session() as session:
        await approvals.set_policy(session, Decimal("1000000"), kind="crm.contract")

    wrong = await send(
        owner, here, f"{here}/plan", due_on_1="2026-01-10", amount_1="100", due_on_2="", amount_2=""
    )
    assert wrong.status_code == 422
    assert "add up to 100.00, not the contract's 3000.00" in form_error(wrong, "plan")
    assert 'value="2026-01-10"' in wrong.text
    half = await send(owner, here, f"{here}/plan", due_on_1="2026-01-10", amount_1="")
    assert "Fill this in." in error_beside(half, "plan", "amount_1")
    split = await send(owner, here, f"{here}/split", count="3", first_due_on="2026-01-10")
    assert split.status_code == 303
    assert (await send(owner, here, f"{here}/submit")).status_code == 303
    unsigned = await send(owner, here, f"{here}/sign", signed_on="")
    assert "Fill this in." in error_beside(unsigned, "sign", "signed_on")
    assert (await send(owner, here, f"{here}/sign", signed_on="2026-01-05")).status_code == 303

    signed = await opened(owner, here)
    assert 'id="contract-overdue"' in signed.text  # January's installments are past due
    assert 'id="installment-1-overdue"' in signed.text
    installment = re.search(r'action="[^"]+/installments/([0-9a-f-]{36})/payments"', signed.text)
    assert installment is not None
    pay_url = f"{here}/installments/{installment[1]}/payments"
    fields = {"received_on": "2026-01-20", "method": "cash", "reference": "R-1"}
    over = await send(owner, here, pay_url, amount="1000.01", **fields)
    assert over.status_code == 422
    assert "At most 1000.00 is still open" in error_beside(over, f"pay-{installment[1]}", "amount")
    assert 'value="R-1"' in over.text
    assert (await send(owner, here, pay_url, amount="400", **fields)).status_code == 303
    paid = await opened(owner, here)
    assert 'id="contract-payments"' in paid.text
    assert "R-1" in paid.text

    listing = await opened(owner, f"{PAGES}/payments")
    assert listing.text.count('id="overdue-') >= 3  # the three installments, one partly paid
    assert "R-1" in listing.text

    unticked = await send(owner, here, f"{here}/terminate", reason="The customer left.")
    assert "Tick the box to confirm." in error_beside(unticked, "terminate", "confirm")
    assert "The customer left." in unticked.text
    ended = await send(owner, here, f"{here}/terminate", reason="The customer left.", confirm="yes")
    assert ended.status_code == 303
    assert "The customer left." in (await opened(owner, here)).text


async def test_a_draft_is_edited_on_its_form(
    db: Database, floor: SalesFloor, browser: Browser
) -> None:
    owner = await owner_browser(db, browser)
    party = await make_party(owner, "Hangzhou Tea Co.", is_customer=True)
    here = await new_contract(owner, party["id"])
    edit = f"{here}/edit"
    fields = {"title": "Tea 2026", "amount": "3500", "discount_percent": "2", "terms": "Net 30"}
    bad = await send(owner, edit, edit, **{**fields, "ends_on": "2026-13-45", "starts_on": ""})
    assert "2026-13-45 is not a date" in error_beside(bad, "contract", "ends_on")
    good = await send(owner, edit, edit, **fields, starts_on="", ends_on="", contact_id="")
    assert good.status_code == 303
    assert "Tea 2026" in (await opened(owner, here)).text


async def test_tickets_are_opened_moved_and_changed_on_their_pages(
    db: Database, floor: SalesFloor, browser: Browser
) -> None:
    owner = await owner_browser(db, browser)
    party = await make_party(owner, "Kettle Buyer Ltd", is_customer=True)
    new = f"{PAGES}/tickets/new?customer_id={party['id']}"
    refused = await send(
        owner, new, f"{PAGES}/tickets/new", party_id=party["id"], subject="", description="Drips"
    )
    assert refused.status_code == 422
    assert "Fill this in." in error_beside(refused, "ticket", "subject")
    assert "Drips" in refused.text
    assert await count(floor, Ticket) == 0
    made = await send(
        owner,
        new,
        f"{PAGES}/tickets/new",
        party_id=party["id"],
        subject="Kettle leaks",
        description="Drips",
        priority="urgent",
    )
    assert made.status_code == 303
    here = made.headers["location"]
    page = await opened(owner, here)
    assert 'id="ticket-start"' in page.text
    assert 'id="record-timeline"' in page.text  # the conversation
    assert (await send(owner, here, f"{here}/move", action="start")).status_code == 303
    wrong = await send(owner, here, f"{here}/move", action="close")
    assert wrong.status_code == 409
    assert "cannot be moved that way" in form_error(wrong, "move")
    me = await the_test_owner(db)
    edit = await send(
        owner,
        here,
        f"{here}/edit",
        subject="x" * 201,
        description="",
        priority="low",
        assignee_id=str(me.id),
    )
    assert "longer than 200 characters" in error_beside(edit, "edit", "subject")
    assert (await opened(owner, f"{PAGES}/tickets?overdue=true")).status_code == 200
    assert "Kettle leaks" in (await opened(owner, f"{PAGES}/tickets")).text


async def test_targets_are_set_and_shown_for_a_year(
    db: Database, floor: SalesFloor, browser: Browser
) -> None:
    owner = await owner_browser(db, browser)
    me = await the_test_owner(db)
    url = f"{PAGES}/targets?year=2026"
    page = await opened(owner, url)
    assert 'id="no-targets"' in page.text
    bad = await send(owner, url, f"{PAGES}/targets", holder=f"user:{me.id}", month="", amount="9")
    assert "Fill this in." in error_beside(bad, "target", "month")
    assert await count(floor, Target) == 0
    good = await send(
        owner, url, f"{PAGES}/targets", holder=f"user:{me.id}", month="2026-03", amount="9000"
    )
    assert good.status_code == 303
    assert good.headers["location"].endswith("/crm/targets?year=2026")
    shown = await opened(owner, url)
    assert f'id="targets-{me.id}"' in shown.text
    assert "$9,000.00" in shown.text


async def test_a_member_and_another_workspace_are_kept_out(
    db: Database, floor: SalesFloor, other_floor: SalesFloor, browser: Browser
) -> None:
    owner = await owner_browser(db, browser)
    party = await make_party(owner, "Hangzhou Tea Co.", is_customer=True)
    here = await new_contract(owner, party["id"])
    mia = await user(db, "Mia")
    await join(db, floor.ctx, mia, roles.MEMBER)
    member = await browser(mia)
    assert (await member.get(here, headers=HTML)).status_code == 404  # not hers
    targets = await opened(member, f"{PAGES}/targets")
    assert 'id="target-form"' not in targets.text
    token = csrf(targets)
    refused = await member.post(
        f"{PAGES}/targets",
        data={"_csrf_token": token, "holder": f"user:{mia.id}", "month": "2026-03", "amount": "1"},
        headers=HTML,
    )
    assert refused.status_code == 403
    elsewhere = here.replace("/t/acme/", "/t/bolt/")
    assert (await owner.get(elsewhere, headers=HTML)).status_code == 404
    assert (await owner.get(f"/t/bolt/crm/tickets/{uuid.uuid4()}", headers=HTML)).status_code == 404


async def test_every_form_of_these_pages_refuses_bad_input_with_a_message_and_the_typing(
    db: Database, floor: SalesFloor, browser: Browser
) -> None:
    """The sweep of tests/web/test_every_form.py over these pages, with a contract in each
    state that has forms (draft, approved, signed), a ticket and the targets page."""
    owner = await owner_browser(db, browser)
    party = await make_party(owner, "Hangzhou Tea Co.", is_customer=True)
    async with floor.session() as session:
        await approvals.set_policy(session, Decimal("1000000"), kind="crm.contract")
    draft = await new_contract(owner, party["id"])
    approved = await new_contract(owner, party["id"])
    signed = await new_contract(owner, party["id"])
    for here in (approved, signed):
        await send(owner, here, f"{here}/split", count="2", first_due_on="2026-01-10")
        await send(owner, here, f"{here}/submit")
    await send(owner, signed, f"{signed}/sign", signed_on="2026-01-05")
    ticket = await send(
        owner,
        f"{PAGES}/tickets/new",
        f"{PAGES}/tickets/new",
        party_id=party["id"],
        subject="Leaks",
        priority="normal",
    )
    pages = [
        f"{PAGES}/contracts/new?customer_id={party['id']}",
        f"{draft}/edit",
        draft,
        approved,
        signed,
        f"{PAGES}/tickets/new?customer_id={party['id']}",
        ticket.headers["location"],
        f"{PAGES}/targets",
    ]
    forms = {}
    for url in pages:
        reader = PageReader(url)
        reader.feed((await opened(owner, url)).text)
        for form in reader.forms:
            if form.typed and "/crm/" in form.action:
                forms.setdefault(form.pattern, form)
    assert len(forms) == 11, sorted(forms)  # every form of the area with typed inputs
    assert not (problems := await refusals(owner, list(forms.values()))), "\n".join(problems)
