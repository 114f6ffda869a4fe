"""The announcement pages and JSON API over real HTTP, as a browser and a client use them: a
publisher writes (a blank title refused beside its input, 422, nothing written), publishes
with the CSRF token, a member finds it marked unread and counted, opens it (the read is
recorded, the mark gone), the body shown as text not HTML, the read report's not-read list,
a Member's 403 on publishing, the API's list, read, publish, withdraw and receipts, and
another workspace's announcement as 404."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from core import roles
from core.db import Database
from core.models import User
from core.plugins.registry import ModuleRegistry
from modules.oa.models import Announcement, AnnouncementRead
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_contracts_pages import error_beside
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf

PAGES = "/t/acme/oa/announcements"
API = "/api/t/acme/oa/announcements"


@pytest.fixture
async def office(db: Database, make_tenant, registry: ModuleRegistry) -> SalesFloor:
    return SalesFloor(db, registry, await make_tenant("acme", "oa"))


async def browser_of(db: Database, browser: Browser, user_id: uuid.UUID) -> httpx.AsyncClient:
    async with db.global_transaction() as session:
        who = await session.get(User, user_id)
    assert who is not None
    return await browser(who)


async def send(http: httpx.AsyncClient, page_url: str, target: str, fields) -> httpx.Response:
    """Open ``page_url`` (for its CSRF token) and post ``fields`` to ``target``."""
    page = await http.get(page_url, headers=HTML)
    assert page.status_code == 200, page.text
    data: dict[str, list[str]] = {"_csrf_token": [csrf(page)]}
    for name, value in fields:  # a name may repeat (the departments ticked)
        data.setdefault(name, []).append(value)
    return await http.post(target, data=data, headers=HTML)


async def count(office: SalesFloor, model: type) -> int:
    async with office.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_publisher_writes_and_publishes_and_a_member_reads_over_http(
    office: SalesFloor, db: Database, browser: Browser
) -> None:
    sales = await office.department("Sales")
    east = await office.department("Sales East", sales)
    lin = await office.member("Lin", department=east)
    mei = await office.member("Mei")
    owner = await browser(await the_test_owner(db))
    form = await owner.get(f"{PAGES}/new", headers=HTML)
    assert 'name="department_ids"' in form.text
    assert 'name="viewport"' in form.text  # the shell's phone-width layout

    refused = await send(
        owner,
        f"{PAGES}/new",
        f"{PAGES}/new",
        [("title", "  "), ("body", "Kept"), ("audience", "everyone")],
    )
    assert refused.status_code == 422
    assert "title" in error_beside(refused, "announcement", "title").lower()
    assert ">Kept</textarea>" in refused.text
    assert await count(office, Announcement) == 0

    written = await send(
        owner,
        f"{PAGES}/new",
        f"{PAGES}/new",
        [
            ("title", "Sales kick-off"),
            ("body", "Line one\n<script>alert(1)</script>"),
            ("audience", "departments"),
            ("department_ids", str(sales)),
        ],
    )
    assert written.status_code == 303, written.text
    here = written.headers["location"]
    draft = await owner.get(here, headers=HTML)
    assert 'id="attachment-upload"' in draft.text  # core's attachments, for publishers
    member = await browser_of(db, browser, lin.user_id)
    assert (await member.get(here, headers=HTML)).status_code == 404  # still a draft

    publish = await send(owner, here, f"{here}/publish", [])
    assert publish.status_code == 303
    listing = await member.get(PAGES, headers=HTML)
    assert 'id="unread-count"' in listing.text
    assert "Sales kick-off" in listing.text
    page = await member.get(here, headers=HTML)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert 'id="publish-announcement"' not in page.text
    assert 'id="attachment-upload"' not in page.text
    assert 'id="unread-count"' not in (await member.get(PAGES, headers=HTML)).text
    assert "Sales kick-off" in (await member.get(f"{PAGES}?q=kick", headers=HTML)).text
    assert 'id="no-announcements"' in (await member.get(f"{PAGES}?q=zzz", headers=HTML)).text
    assert await count(office, AnnouncementRead) == 1

    outsider = await browser_of(db, browser, mei.user_id)
    assert "Sales kick-off" not in (await outsider.get(PAGES, headers=HTML)).text
    assert (await outsider.get(here, headers=HTML)).status_code == 404

    report = await owner.get(f"{here}/receipts", headers=HTML)
    assert report.status_code == 200
    assert f'id="read-{lin.user_id}"' in report.text
    assert "1 of 1 have read it." in report.text

    withdrawn = await send(owner, here, f"{here}/withdraw", [])
    assert withdrawn.status_code == 303
    assert (await member.get(here, headers=HTML)).status_code == 404


async def test_a_member_may_not_publish_and_edits_are_refused_in_place(
    office: SalesFloor, db: Database, browser: Browser
) -> None:
    lin = await office.member("Lin")
    owner = await browser(await the_test_owner(db))
    written = await send(
        owner, f"{PAGES}/new", f"{PAGES}/new", [("title", "Draft"), ("audience", "everyone")]
    )
    here = written.headers["location"]
    member = await browser_of(db, browser, lin.user_id)
    listing = await member.get(PAGES, headers=HTML)
    assert 'id="new-announcement"' not in listing.text
    token = csrf(listing)
    answer = await member.post(f"{here}/publish", data={"_csrf_token": token}, headers=HTML)
    assert answer.status_code == 403
    assert (await member.get(f"{PAGES}/new", headers=HTML)).status_code == 403
    no_token = await owner.post(f"{here}/publish", data={}, headers=HTML)
    assert no_token.status_code == 403  # CSRF
    async with office.session() as session:
        assert await session.scalar(select(Announcement.status)) == "draft"

    refused = await send(
        owner, f"{here}/edit", f"{here}/edit", [("title", "Draft"), ("audience", "departments")]
    )
    assert refused.status_code == 422
    assert error_beside(refused, "announcement", "department_ids")

    bad_time = await send(owner, here, f"{here}/publish", [("publish_at", "soon")])
    assert bad_time.status_code == 422
    assert "soon" in error_beside(bad_time, "act", "publish_at")
    scheduled = await send(owner, here, f"{here}/publish", [("publish_at", "2099-03-05T09:00")])
    assert scheduled.status_code == 303
    assert 'id="scheduled-' in (await owner.get(PAGES, headers=HTML)).text
    assert "Draft" not in (await member.get(PAGES, headers=HTML)).text
    assert (await member.get(here, headers=HTML)).status_code == 404


async def test_the_api_lists_reads_publishes_and_reports_receipts(
    office: SalesFloor, db: Database, browser: Browser, make_tenant
) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    lin = await office.member("Lin")
    publisher = await browser_of(db, browser, admin.user_id)
    member = await browser_of(db, browser, lin.user_id)

    blank = await publisher.post(API, json={"title": ""})
    assert blank.status_code == 422
    assert blank.json()["error"]["field"] == "title"
    made = await publisher.post(
        API, json={"title": "Canteen menu", "body": "Noodles", "pinned": True}
    )
    assert made.status_code == 201, made.text
    announcement = made.json()
    url = f"{API}/{announcement['id']}"
    assert (announcement["status"], announcement["everyone"]) == ("draft", True)
    assert (await member.post(f"{url}/publish")).status_code == 403
    assert (await member.get(url)).status_code == 404

    past = await publisher.post(f"{url}/publish", json={"publish_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    assert past.json()["error"]["field"] == "publish_at"
    published = await publisher.post(f"{url}/publish")
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    assert (await publisher.post(f"{url}/publish")).status_code == 409
    before = (await member.get(API)).json()
    assert before["unread"] == 1
    assert [(i["title"], i["unread"], i["read_count"]) for i in before["items"]] == [
        ("Canteen menu", True, None)
    ]
    read = await member.get(url)
    assert read.status_code == 200
    assert read.json()["body"] == "Noodles"
    await member.get(url)
    assert (await member.get(API)).json()["unread"] == 0

    receipts = (await publisher.get(f"{url}/receipts")).json()
    assert receipts["audience"] == 3  # the owner, Ada and Lin
    assert [r["name"] for r in receipts["read"]] == ["Lin"]
    assert lin.user_id not in {uuid.UUID(r["user_id"]) for r in receipts["not_read"]}
    assert (await member.get(f"{url}/receipts")).status_code == 403

    withdrawn = await publisher.post(f"{url}/withdraw")
    assert withdrawn.json()["status"] == "withdrawn"
    assert (await member.get(API)).json()["items"] == []

    await make_tenant("bolt", "oa")
    owner = await browser(await the_test_owner(db))
    assert (
        await owner.get(f"/api/t/bolt/oa/announcements/{announcement['id']}")
    ).status_code == 404
    assert (await owner.get("/api/t/bolt/oa/announcements")).json()["items"] == []
