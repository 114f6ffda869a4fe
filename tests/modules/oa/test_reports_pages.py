"""OA's approval reports over real HTTP: the page with its three sections (chart, table,
readable durations, links to the slowest approvals), the "Reports" tab, the Excel and CSV
files read back, the JSON API with exact seconds, bad filters refused beside their input
(422, typed value kept) and as JSON, and a member without the right refused."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import httpx
import pytest
from openpyxl import load_workbook

from core.db import Database
from tests.conftest import Browser
from tests.modules.oa.conftest import KIND, Office
from tests.modules.oa.test_approvals_pages import as_user
from tests.modules.oa.test_reports import Book, book
from tests.web.test_parties_api import HTML, the_test_owner

PAGE = "/t/acme/oa/reports"
API = "/api/t/acme/oa/reports"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
async def made(office: Office) -> Book:
    return await book(office)


@pytest.fixture
async def owner(db: Database, browser: Browser, made: Book) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


def section(page: httpx.Response, key: str) -> str:
    return page.text.split(f'id="report-{key}"')[1].split("</section>")[0]


async def test_the_page_shows_each_report(owner: httpx.AsyncClient, made: Book) -> None:
    page = await owner.get(PAGE, params=MARCH, headers=HTML)
    assert page.status_code == 200, page.text
    assert 'href="/t/acme/oa/reports" aria-current="page"' in page.text  # the OA tab
    counts = section(page, "counts")
    assert '<svg role="img" aria-label="Approvals by kind and department"' in counts
    assert "<td>Sales East</td><td>1</td><td>0</td><td>1</td>" in counts
    assert (
        '<th scope="row">Total</th><td></td><td>4</td><td>1</td><td>1</td><td>1</td><td>1</td>'
        in counts
    )
    cycle = section(page, "cycle-time")
    assert "<td>2 d 3 h</td>" in cycle  # the longest, and the slowest approval's time
    assert "<td>1 d 1 h</td>" in cycle  # the average of 51 h and 30 min
    slowest = cycle.split('id="slowest"')[1]
    assert slowest.index(f"/t/acme/oa/approvals/{made.approved}") < slowest.index(
        f"/t/acme/oa/approvals/{made.rejected}"
    )
    waits = section(page, "waits")
    assert "<td>Finance</td><td>1</td><td>0</td><td>2 d 1 h</td>" in waits
    assert 'id="waits-now"' in waits  # open tasks count up to now, and it says so
    assert 'href="/t/acme/oa/reports/waits.xlsx?from=2026-03-01&amp;to=2026-03-31"' in waits


async def test_a_department_filter_narrows_the_page(owner: httpx.AsyncClient, made: Book) -> None:
    page = await owner.get(PAGE, params={**MARCH, "department": str(made.east)}, headers=HTML)
    assert page.status_code == 200
    assert f'<option value="{made.east}" selected>' in page.text
    counts = section(page, "counts")
    assert "<td>Sales East</td>" in counts
    assert "<td>Ops</td>" not in counts


async def test_exports_read_back(owner: httpx.AsyncClient, made: Book) -> None:
    xlsx = await owner.get(f"{PAGE}/cycle-time.xlsx", params=MARCH)
    assert xlsx.status_code == 200
    assert (
        'filename="oa-cycle-time-2026-03-01_2026-03-31.xlsx"' in xlsx.headers["content-disposition"]
    )
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Kind", "Decided", "Average time (hours)", "Longest time (hours)"]
    assert rows[1][:2] == ["Contract approval", 2]
    assert [Decimal(str(v)) for v in rows[1][2:]] == [Decimal("25.75"), Decimal("51")]
    assert rows[-1][:2] == ["Total", 2]
    answer = await owner.get(f"{PAGE}/counts.csv", params=MARCH)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert table[0] == ["By", "Name", "Submitted", "Approved", "Rejected", "Withdrawn", "Pending"]
    assert ["Kind", "Contract approval", "4", "1", "1", "1", "1"] in table
    assert ["Department", "Sales", "2", "1", "0", "0", "1"] in table
    assert table[-1] == ["Total", "", "4", "1", "1", "1", "1"]
    missing = await owner.get(f"{PAGE}/nothing.csv", params=MARCH)
    assert missing.status_code == 404


async def test_the_api_gives_the_same_figures(owner: httpx.AsyncClient, made: Book) -> None:
    counts = (await owner.get(f"{API}/counts", params=MARCH)).json()
    assert counts["total"]["submitted"] == 4
    assert [(r["key"], r["pending"]) for r in counts["by_kind"]] == [(KIND, 1)]
    cycle = (await owner.get(f"{API}/cycle-time", params=MARCH)).json()
    assert cycle["total"]["longest_seconds"] == 51 * 3600
    assert [s["instance_id"] for s in cycle["slowest"]] == [str(made.approved), str(made.rejected)]
    waits = (await owner.get(f"{API}/waits", params=MARCH)).json()
    steps = {r["step_name"]: r for r in waits["rows"]}
    assert (steps["Manager review"]["tasks"], steps["Manager review"]["waiting"]) == (3, 1)
    assert steps["Finance"]["average_seconds"] == 49 * 3600
    sales = await owner.get(f"{API}/counts", params={**MARCH, "department": str(made.sales)})
    assert sales.json()["total"]["submitted"] == 3


async def test_bad_filters_are_refused_beside_their_input(
    owner: httpx.AsyncClient, made: Book
) -> None:
    page = await owner.get(PAGE, params={"from": "2026-03-31", "to": "2026-03-01"}, headers=HTML)
    assert page.status_code == 422
    assert 'id="filters-to-error"' in page.text
    assert "The period ends before it starts." in page.text
    assert 'value="2026-03-01"' in page.text  # what was typed stays
    assert 'id="report-counts"' not in page.text
    months = await owner.get(PAGE, params={"months": "99"}, headers=HTML)
    assert months.status_code == 422
    assert 'id="filters-months-error"' in months.text
    answer = await owner.get(f"{API}/counts", params={"department": "nope"})
    assert answer.status_code == 422
    assert "department" in answer.text
    export = await owner.get(f"{PAGE}/counts.csv", params={"kind": "nope.nothing"})
    assert export.status_code == 422


async def test_a_member_may_not_read_reports(db: Database, browser: Browser, made: Book) -> None:
    http = await as_user(db, browser, made.member)
    assert (await http.get(PAGE, headers=HTML)).status_code == 403
    assert (await http.get(f"{API}/counts")).status_code == 403
    approvals = await http.get("/t/acme/oa/approvals", headers=HTML)
    assert 'href="/t/acme/oa/reports"' not in approvals.text  # no Reports tab
