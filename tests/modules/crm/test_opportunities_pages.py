"""The opportunity pages and API over real HTTP: the list with its forecast, the board (a
move by htmx swaps the two columns it touched; into a won column it first asks why; without
JavaScript the card's form posts and comes back), an opportunity's page with its forms,
refusals beside their inputs, and the JSON API."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import httpx
import pytest

from core import roles
from core.db import Database
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_opportunities import customer, deal, events, product, stages
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf

HTMX = {**HTML, "hx-request": "true"}


@pytest.fixture
async def owner(db: Database, floor: SalesFloor, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def test_the_list_shows_deals_and_the_weighted_forecast(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    await deal(
        floor, admin, party, "Spring tea", amount=Decimal(1000), expected_close_on=date(2026, 3, 9)
    )
    page = await owner.get("/t/acme/crm/opportunities", headers=HTML)
    assert page.status_code == 200
    assert "Spring tea" in page.text
    forecast = page.text.split('id="opportunity-forecast"')[1]
    assert "2026-03" in forecast
    assert "$1,000.00" in forecast
    assert "$100.00" in forecast
    empty = await owner.get("/t/acme/crm/opportunities?close_month=2026-13", headers=HTML)
    assert empty.status_code == 200
    assert 'id="filter-error"' in empty.text
    api = await owner.get("/api/t/acme/crm/opportunities/forecast")
    assert api.json()["months"][0] == {
        "month": "2026-03-01",
        "count": 1,
        "amount": "1000.00",
        "weighted": "100.00",
    }


async def test_the_board_moves_a_card_by_htmx_and_asks_why_it_was_won(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    made = await deal(floor, admin, party, "Spring tea", amount=Decimal(500))
    named = await stages(floor)
    board = await owner.get("/t/acme/crm/opportunities/board", headers=HTML)
    assert board.status_code == 200
    assert f'id="card-{made.id}"' in board.text
    assert board.text.count('class="board-column card"') == 6
    assert 'draggable="true"' in board.text
    assert '<script src="/static/atrium.js" defer>' in board.text  # drags send the form
    token = csrf(board)
    url = f"/t/acme/crm/opportunities/{made.id}/move"

    moved = await owner.post(
        url, data={"_csrf_token": token, "stage_id": str(named["Negotiation"].id)}, headers=HTMX
    )
    assert moved.status_code == 200
    columns = re.findall(r'id="stage-([0-9a-f-]{36})"[^>]*hx-swap-oob="true"', moved.text)
    assert sorted(columns) == sorted([str(named["open"].id), str(named["Negotiation"].id)])
    entered = moved.text.split(f'id="stage-{named["Negotiation"].id}"')[1]
    assert f'id="card-{made.id}"' in entered
    assert "$500.00" in entered

    asked = await owner.post(
        url, data={"_csrf_token": token, "stage_id": str(named["won"].id)}, headers=HTMX
    )
    assert asked.status_code == 200
    assert 'id="board-dialog"' in asked.text
    assert 'name="reason"' in asked.text
    assert 'role="alert"' not in asked.text  # a question, not a refusal
    blank = await owner.post(
        url,
        data={"_csrf_token": token, "stage_id": str(named["won"].id), "reason": " "},
        headers=HTMX,
    )
    assert "Say why the opportunity was won." in blank.text
    won = await owner.post(
        url,
        data={"_csrf_token": token, "stage_id": str(named["won"].id), "reason": "Best tea"},
        headers=HTMX,
    )
    assert f'id="stage-{named["won"].id}"' in won.text
    assert '<div id="board-dialog" aria-live="polite" hx-swap-oob="true"></div>' in won.text
    [closed] = await events(floor, "crm.opportunity_closed.v1")
    assert closed["reason"] == "Best tea"


async def test_without_javascript_the_card_form_moves_and_comes_back(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    made = await deal(floor, admin, party, "Spring tea")
    named = await stages(floor)
    board = await owner.get("/t/acme/crm/opportunities/board", headers=HTML)
    token = csrf(board)
    back = f"/t/acme/crm/opportunities/board?pipeline={made.pipeline_id}"
    url = f"/t/acme/crm/opportunities/{made.id}/move"
    moved = await owner.post(
        url,
        data={"_csrf_token": token, "stage_id": str(named["Negotiation"].id), "next": back},
        headers=HTML,
    )
    assert moved.status_code == 303
    assert moved.headers["location"] == back
    asked = await owner.post(
        url,
        data={"_csrf_token": token, "stage_id": str(named["lost"].id), "next": back},
        headers=HTML,
    )
    assert asked.status_code == 200  # the reason's own page
    assert 'name="reason"' in asked.text
    assert "<h2>Spring tea</h2>" in asked.text
    lost = await owner.post(
        url,
        data={
            "_csrf_token": token,
            "stage_id": str(named["lost"].id),
            "reason": "Too dear",
            "next": back,
        },
        headers=HTML,
    )
    assert lost.status_code == 303


async def test_an_opportunity_page_with_its_lines_and_forms(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    made = await deal(floor, admin, party, "Spring tea")
    here = f"/t/acme/crm/opportunities/{made.id}"
    page = await owner.get(here, headers=HTML)
    assert page.status_code == 200
    assert 'id="record-timeline"' in page.text
    assert 'id="record-attachments"' in page.text
    assert "New quote from this opportunity" in page.text
    token = csrf(page)

    added = await owner.post(
        f"{here}/lines",
        data={"_csrf_token": token, "product_id": str(tea), "quantity": "2", "unit_price": ""},
        headers=HTML,
    )
    assert added.status_code == 303
    page = await owner.get(here, headers=HTML)
    assert "$176.00" in page.text.split('id="opportunity-amount"')[1][:60]
    bad = await owner.post(
        f"{here}/lines",
        data={"_csrf_token": token, "product_id": str(tea), "quantity": "lots", "unit_price": ""},
        headers=HTML,
    )
    assert bad.status_code == 422
    assert 'aria-describedby="line-quantity-error"' in bad.text
    assert 'value="lots"' in bad.text
    no_reason = await owner.post(
        f"{here}/close", data={"_csrf_token": token, "outcome": "won", "reason": ""}, headers=HTML
    )
    assert no_reason.status_code == 422
    assert "Say why the opportunity was won." in no_reason.text
    won = await owner.post(
        f"{here}/close",
        data={"_csrf_token": token, "outcome": "won", "reason": "Signed today"},
        headers=HTML,
    )
    assert won.status_code == 303
    page = await owner.get(here, headers=HTML)
    assert "Signed today" in page.text
    assert 'id="reopen-form"' in page.text
    reopened = await owner.post(
        f"{here}/reopen",
        data={"_csrf_token": token, "stage_id": str((await stages(floor))["open"].id)},
        headers=HTML,
    )
    assert reopened.status_code == 303

    edit = await owner.get(f"{here}/edit", headers=HTML)
    assert 'id="amount-from-lines"' in edit.text
    renamed = await owner.post(
        f"{here}/edit",
        data={
            "_csrf_token": token,
            "name": "Spring and summer tea",
            "expected_close_on": "2026-04-30",
            "contact_id": "",
            "owner_id": "",
        },
        headers=HTML,
    )
    assert renamed.status_code == 303
    refused = await owner.post(
        f"{here}/edit",
        data={"_csrf_token": token, "name": "", "expected_close_on": "2026-02-30"},
        headers=HTML,
    )
    assert refused.status_code == 422
    assert 'value="2026-02-30"' in refused.text


async def test_a_new_opportunity_from_the_form(owner: httpx.AsyncClient, floor: SalesFloor) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    page = await owner.get("/t/acme/crm/opportunities/new", headers=HTML)
    assert page.status_code == 200
    token = csrf(page)
    fields = {"_csrf_token": token, "name": "Office tea", "party_id": "", "amount": "12,000.50"}
    refused = await owner.post("/t/acme/crm/opportunities/new", data=fields, headers=HTML)
    assert refused.status_code == 422
    assert "Choose the customer." in refused.text
    assert 'value="12,000.50"' in refused.text
    made = await owner.post(
        "/t/acme/crm/opportunities/new", data={**fields, "party_id": str(party)}, headers=HTML
    )
    assert made.status_code == 303
    page = await owner.get(made.headers["location"], headers=HTML)
    assert "Office tea" in page.text
    assert "$12,000.50" in page.text


async def test_the_api_creates_moves_and_closes(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    named = await stages(floor)
    made = await owner.post(
        "/api/t/acme/crm/opportunities",
        json={
            "name": "Tea",
            "party_id": str(party),
            "expected_close_on": "2026-06-01",
            "lines": [{"product_id": str(tea), "quantity": "1.5"}],
        },
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["amount"], body["stage_name"], body["lines"][0]["amount"]) == (
        "132.00",
        "Initial contact",
        "132.00",
    )
    oid = body["id"]
    moved = await owner.post(
        f"/api/t/acme/crm/opportunities/{oid}/move", json={"stage_id": str(named["won"].id)}
    )
    assert moved.status_code == 422
    assert moved.json()["error"]["field"] == "reason"
    lost = await owner.post(f"/api/t/acme/crm/opportunities/{oid}/lost", json={"reason": "Price"})
    assert lost.json()["status"] == "lost"
    again = await owner.post(f"/api/t/acme/crm/opportunities/{oid}/won", json={"reason": "x"})
    assert again.status_code == 409
    reopened = await owner.post(f"/api/t/acme/crm/opportunities/{oid}/reopen", json={})
    assert reopened.json()["stage_name"] == "Negotiation"
    lines = await owner.put(
        f"/api/t/acme/crm/opportunities/{oid}/lines",
        json={"lines": [{"product_id": str(tea), "quantity": "2", "unit_price": "80"}]},
    )
    assert lines.json()["amount"] == "160.00"
    patched = await owner.patch(
        f"/api/t/acme/crm/opportunities/{oid}", json={"name": "Tea for the office"}
    )
    assert patched.json()["name"] == "Tea for the office"
    listed = await owner.get("/api/t/acme/crm/opportunities", params={"status": "open"})
    assert [o["name"] for o in listed.json()["items"]] == ["Tea for the office"]
    assert (await owner.get(f"/api/t/acme/crm/opportunities/{oid}")).json()[
        "probability"
    ] == "80.00"
