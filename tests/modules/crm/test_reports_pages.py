"""The CRM reports page, its exports and the JSON API over real HTTP: every report with its
SVG chart and its table, the Excel and CSV files with translated headers and the right
cells, a salesperson's own figures, bad filters refused beside their input (422, never
500) and as JSON."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import case, update

from core.db import Database
from core.models import User
from modules.crm.models import Opportunity
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_reports import FIRST_HALF, Team, deals, signed_book, team
from tests.web.test_parties_api import HTML, the_test_owner

PAGE = "/t/acme/crm/reports"
API = "/api/t/acme/crm/reports"
HALF = {"from": FIRST_HALF["start"], "to": FIRST_HALF["end"]}
KEYS = ("funnel", "win-rate", "sales", "forecast", "collection", "activity", "customers", "tickets")


@pytest.fixture
async def owner(db: Database, floor: SalesFloor, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


@pytest.fixture
async def people(floor: SalesFloor) -> Team:
    """The deals of test_reports, made and closed in March 2026 (as the contracts were
    signed), so the first half of 2026 holds every figure whenever the test runs."""
    made = await team(floor)
    await deals(floor, made)
    await signed_book(floor, made)
    march = datetime(2026, 3, 12, 10, tzinfo=UTC)
    async with floor.session() as session:
        await session.execute(
            update(Opportunity).values(
                created_at=march,
                closed_at=case((Opportunity.closed_at.is_not(None), march), else_=None),
            )
        )
    return made


def section(page: httpx.Response, key: str) -> str:
    return page.text.split(f'id="report-{key}"')[1].split("</section>")[0]


async def test_the_page_shows_every_report_with_a_chart_and_its_table(
    owner: httpx.AsyncClient, people: Team
) -> None:
    page = await owner.get(PAGE, params=HALF, headers=HTML)
    assert page.status_code == 200
    assert 'href="/t/acme/crm/reports" aria-current="page"' in page.text  # the CRM tab
    for key in KEYS:
        shown = section(page, key)
        assert re.search(r'<svg role="img" aria-label="[^"]+"', shown) or "Nothing to show" in shown
        assert f'id="table-{key}"' in shown
        assert f'href="/t/acme/crm/reports/{key}.xlsx?from=2026-01&amp;to=2026-06"' in shown
    rate = section(page, "win-rate")
    assert "66.7 %" in rate
    assert "$7,000.00" in rate
    sales = section(page, "sales")
    assert '<th scope="col">2026-03</th>' in sales
    assert "$17,000.00" in sales
    assert 'class="bar-a"' in sales
    collection = section(page, "collection")
    assert 'class="legend legend-b">Planned' in collection
    assert "60 %" in collection  # February's share collected
    assert "$7,200.00" in collection


async def test_a_salesperson_sees_their_own_figures(
    db: Database, browser: Browser, people: Team
) -> None:
    async with db.global_transaction() as session:
        wei = await session.get(User, people.wei.user_id)
        assert wei is not None
    http = await browser(wei)
    home = await http.get("/t/acme/", headers=HTML)
    assert 'href="/t/acme/crm"' in home.text  # the menu's CRM entry
    page = await http.get(PAGE, params=HALF, headers=HTML)
    assert page.status_code == 200
    assert 'href="/t/acme/crm/reports" aria-current="page"' in page.text  # its tab
    sales = section(page, "sales")
    assert '<th scope="row">Wei</th>' in sales
    assert '<th scope="row">Li</th>' not in sales
    assert "$15,000.00" in sales
    answer = await http.get(f"{API}/sales", params=HALF)
    assert [(row["name"], row["total"]) for row in answer.json()["rows"]] == [("Wei", "15000.00")]


async def test_each_report_exports_its_table_to_excel_and_csv(
    owner: httpx.AsyncClient, people: Team
) -> None:
    xlsx = await owner.get(f"{PAGE}/sales.xlsx", params=HALF)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="crm-sales-2026-01_2026-06.xlsx"' in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == [
        "Salesperson",
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
        "2026-05",
        "2026-06",
        "Contracts",
        "Total",
    ]
    assert rows[1] == ["Li", 0, 0, 5000, 0, 0, 0, 1, 5000]
    assert rows[2] == ["Wei", 0, 0, 12000, 3000, 0, 0, 2, 15000]
    assert rows[3] == ["Total", 0, 0, 17000, 3000, 0, 0, 3, 20000]
    rate = await owner.get(f"{PAGE}/win-rate.xlsx", params=HALF)
    cells = [[c.value for c in row] for row in load_workbook(io.BytesIO(rate.content)).active]
    assert cells[0] == ["Salesperson", "Won", "Lost", "Won amount", "Win rate"]
    assert cells[-1] == ["Total", 2, 1, 7000, 66.7]
    plain = await owner.get(f"{PAGE}/collection.csv", params=HALF)
    assert plain.status_code == 200
    table = list(csv.reader(io.StringIO(plain.content.decode("utf-8-sig"))))
    assert table[0] == ["Month", "Planned", "Received", "Collection rate"]
    assert table[2] == ["2026-02", "10000.00", "6000.00", "60.0"]
    assert table[-1] == ["Total", "20000.00", "7200.00", "36.0"]
    chinese = await owner.get(f"{PAGE}/tickets.xlsx", params={**HALF, "lang": "zh-CN"})
    assert chinese.status_code == 200
    assert (await owner.get(f"{PAGE}/nothing.xlsx")).status_code == 404
    assert (await owner.get(f"{PAGE}/sales.pdf")).status_code == 404


async def test_the_api_answers_the_same_figures(owner: httpx.AsyncClient, people: Team) -> None:
    rate = (await owner.get(f"{API}/win-rate", params=HALF)).json()
    assert rate["total"]["rate"] == "66.7"
    assert [(r["name"], r["won"], r["lost"]) for r in rate["rows"]] == [("Li", 1, 0), ("Wei", 1, 1)]
    funnel = (await owner.get(f"{API}/funnel", params=HALF)).json()
    assert [s["reached"] for s in funnel["steps"]] == [6, 4, 3, 2, 2]
    collection = (await owner.get(f"{API}/collection", params=HALF)).json()
    assert (collection["planned"], collection["received"], collection["rate"]) == (
        "20000.00",
        "7200.00",
        "36.0",
    )
    forecast = (await owner.get(f"{API}/forecast")).json()
    assert forecast["months"] == [
        {"month": None, "count": 3, "amount": "3100.00", "weighted": "1130.00"}
    ]
    sla = (await owner.get(f"{API}/tickets")).json()
    assert sla["total"]["opened"] == 0
    team_only = (await owner.get(f"{API}/sales", params={**HALF, "team": str(people.sales)})).json()
    assert [r["name"] for r in team_only["rows"]] == ["Wei"]
    assert date.fromisoformat(team_only["months"][0]) == date(2026, 1, 1)


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ({"from": "2026-13"}, "from"),
        ({"from": "2026-05", "to": "2026-04"}, "to"),
        ({"team": "00000000-0000-0000-0000-000000000000"}, "team"),
        ({"person": "someone"}, "person"),
    ],
)
async def test_bad_filters_are_refused_beside_their_input(
    owner: httpx.AsyncClient, typed: dict, field: str
) -> None:
    page = await owner.get(PAGE, params=typed, headers=HTML)
    assert page.status_code == 422
    refusal = re.search(rf'<p class="notice" role="alert" id="filters-{field}-error">', page.text)
    assert refusal is not None
    assert f'aria-describedby="filters-{field}-error"' in page.text
    for value in typed.values():
        assert f'value="{value}"' in page.text  # what was typed is kept
    assert 'id="report-funnel"' not in page.text
    answer = await owner.get(f"{API}/funnel", params=typed)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == field
    export = await owner.get(f"{PAGE}/funnel.xlsx", params=typed)
    assert export.status_code == 422
