"""The audit log page and its export over real HTTP: entries of real actions with readable
names in English and Chinese, filters, "More" rows by htmx, who may read it, two workspaces.

Each person is their own browser: a session cookie signed in for that user, against the
real app on a loopback port.
"""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime, timedelta

import httpx
import openpyxl
import pytest

from core import audit, roles
from core.context import TenantContext
from core.db import Database
from core.models import User
from tests.web.test_parties_api import (
    HTML,
    HTMX,
    Browser,
    csv_rows,
    join,
    the_test_owner,
    user,
)

ROW = re.compile(
    r'<tr id="audit-(?P<id>[^"]+)" data-action="(?P<action>[^"]+)">(?P<cells>.*?)</tr>', re.S
)
CELL = re.compile(r"<td>(.*?)</td>", re.S)
COLUMNS = ("when", "who", "action", "subject", "details")


def rows(page: httpx.Response) -> list[dict[str, str]]:
    """The audit rows of a page or partial: id, action code and each cell's text."""
    assert page.status_code == 200, page.text
    found = []
    for match in ROW.finditer(page.text):
        texts = [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in CELL.findall(match["cells"])
        ]
        found.append(
            {"id": match["id"], "code": match["action"], **dict(zip(COLUMNS, texts, strict=True))}
        )
    return found


def options(page: httpx.Response, name: str) -> list[tuple[str, str]]:
    """The (value, text) options of the filter form's select ``name``."""
    select = re.search(rf'<select name="{name}">(.*?)</select>', page.text, re.S)
    assert select, page.text
    return [
        (value, html.unescape(text))
        for value, text in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select[1])
    ]


async def api_ids(http: httpx.AsyncClient, **params: str) -> list[str]:
    log = await http.get("/api/t/acme/audit", params={"limit": "500", **params})
    assert log.status_code == 200, log.text
    return [entry["id"] for entry in log.json()]


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme")


@pytest.fixture
async def people(db: Database, acme: TenantContext) -> dict[str, User]:
    """Ada, an admin of acme; Bea, a member of acme."""
    ada, bea = await user(db, "Ada"), await user(db, "Bea")
    await join(db, acme, ada, roles.ADMIN)
    await join(db, acme, bea)
    return {"ada": ada, "bea": bea}


@pytest.fixture
async def history(
    db: Database, acme: TenantContext, people: dict[str, User], browser: Browser
) -> httpx.AsyncClient:
    """Ada creates a custom role and gives it to Bea; the owner then adds a department.
    Ada's browser."""
    as_ada, as_owner = await browser(people["ada"]), await browser(await the_test_owner(db))
    made = await as_ada.post(
        "/api/t/acme/roles", json={"name": "Auditors", "permissions": ["core.party.read"]}
    )
    assert made.status_code == 201, made.text
    listed = (await as_ada.get("/api/t/acme/members", params={"q": "Bea"})).json()["items"]
    # By her user id: "Bea" may also match another address's random hex ("ada.3bea1c@…").
    (bea,) = [m for m in listed if m["user_id"] == str(people["bea"].id)]
    changed = await as_ada.put(
        f"/api/t/acme/members/{bea['id']}/roles",
        json={"role": roles.MEMBER, "roles": [made.json()["id"]]},
    )
    assert changed.status_code == 200, changed.text
    department = await as_owner.post("/api/t/acme/departments", json={"name": "Sales"})
    assert department.status_code == 201, department.text
    return as_ada


async def test_an_admin_reads_real_actions_newest_first_with_readable_names(
    history: httpx.AsyncClient,
) -> None:
    page = await history.get("/t/acme/audit", headers=HTML)
    shown = rows(page)
    assert [row["id"] for row in shown] == await api_ids(history)
    assert [row["code"] for row in shown][:3] == [
        "core.department.created",
        "core.member.roles_changed",
        "core.role.created",
    ]
    department, member_roles, role = shown[:3]
    assert (department["who"], department["action"], department["subject"]) == (
        "Test Owner",
        "Department created",
        "Department",
    )
    assert "name: Sales" in department["details"]
    assert (member_roles["who"], member_roles["action"], member_roles["subject"]) == (
        "Ada",
        "Member's roles changed",
        "Member: Bea",
    )
    assert "before: role: member; roles:" in member_roles["details"]
    assert (role["who"], role["action"], role["subject"]) == ("Ada", "Role created", "Role")
    assert "name: Auditors" in role["details"]
    assert "permissions: core.party.read" in role["details"]
    assert datetime.now(UTC).strftime("%b") in role["when"]  # "Mar 5, 2026, 9:30:00 AM"
    assert 'href="/t/acme/audit"' in page.text  # the menu entry

    chinese = await history.get("/t/acme/audit", params={"lang": "zh-CN"}, headers=HTML)
    department, member_roles, role = rows(chinese)[:3]
    assert (department["action"], department["subject"]) == ("新建部门", "部门")
    assert (member_roles["action"], member_roles["subject"]) == ("修改成员角色", "成员：Bea")
    assert (role["action"], role["subject"]) == ("新建角色", "角色")
    assert "年" in role["when"]
    assert ">审计日志<" in chinese.text


async def test_a_module_action_is_shown_by_its_code(db: Database, acme, history) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        await audit.record(session, "sample.note.archived", detail={"archived": True, "n": 3})
    page = await history.get("/t/acme/audit", headers=HTML)
    newest = rows(page)[0]
    assert (newest["code"], newest["action"], newest["who"]) == (
        "sample.note.archived",
        "sample.note.archived",
        "System",
    )
    assert "<div>archived: Yes</div>" in page.text
    assert "<div>n: 3</div>" in page.text


async def test_filters_by_action_actor_and_day_narrow_the_rows(
    db: Database, people: dict[str, User], history: httpx.AsyncClient
) -> None:
    page = await history.get("/t/acme/audit", headers=HTML)
    assert options(page, "action") == [
        ("", "Every action"),
        ("core.department.created", "Department created"),
        ("core.member.roles_changed", "Member's roles changed"),
        ("core.role.created", "Role created"),
    ]
    owner = await the_test_owner(db)
    assert options(page, "actor_id") == [
        ("", "Anyone"),
        (str(people["ada"].id), "Ada"),
        (str(people["bea"].id), "Bea"),
        (str(owner.id), "Test Owner"),
    ]
    for name in ("action", "actor_id", "start", "end"):  # each input inside its label
        assert re.search(rf'<label>[^<]+<(select|input)[^>]* name="{name}"', page.text), name

    by_action = await history.get(
        "/t/acme/audit", params={"action": "core.role.created"}, headers=HTML
    )
    assert [row["code"] for row in rows(by_action)] == ["core.role.created"]
    assert 'value="core.role.created" selected' in by_action.text
    by_ada = rows(await history.get("/t/acme/audit", params={"actor_id": str(people["ada"].id)}))
    assert [row["code"] for row in by_ada] == ["core.member.roles_changed", "core.role.created"]
    by_owner = rows(await history.get("/t/acme/audit", params={"actor_id": str(owner.id)}))
    assert [row["code"] for row in by_owner] == ["core.department.created"]
    both = {"actor_id": str(owner.id), "action": "core.role.created"}
    nothing = await history.get("/t/acme/audit", params=both, headers=HTML)
    assert rows(nothing) == []
    assert "No entry matches." in nothing.text

    today = datetime.now(UTC).date()
    days = {
        (today.isoformat(), today.isoformat()): 3,
        ("", (today - timedelta(days=1)).isoformat()): 0,
        ((today + timedelta(days=1)).isoformat(), ""): 0,
    }
    for (start, end), count in days.items():
        found = rows(await history.get("/t/acme/audit", params={"start": start, "end": end}))
        assert len(found) == count, (start, end)
    bad = await history.get("/t/acme/audit", params={"start": "5 March"}, headers=HTML)
    assert bad.status_code == 422
    assert "5 March is not a date" in bad.text


async def test_more_rows_come_by_htmx_as_the_rows_partial_only(
    db: Database, acme: TenantContext, people: dict[str, User], browser: Browser
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        for n in range(audit.PAGE_SIZE + 5):
            await audit.record(session, "sample.note.archived", detail={"n": n})
        await audit.record(session, "sample.note.kept")
    as_ada = await browser(people["ada"])
    archived = await api_ids(as_ada, action="sample.note.archived")
    assert len(archived) == audit.PAGE_SIZE + 5

    first = await as_ada.get(
        "/t/acme/audit", params={"action": "sample.note.archived"}, headers=HTML
    )
    assert [row["id"] for row in rows(first)] == archived[: audit.PAGE_SIZE]
    more = re.search(
        r'<tr id="more-audit">.*?hx-get="([^"]+)" hx-target="#more-audit"', first.text, re.S
    )
    assert more, first.text
    more_url = html.unescape(more[1])
    assert "action=sample.note.archived" in more_url

    partial = await as_ada.get(more_url, headers=HTMX)
    assert "<html" not in partial.text
    assert "audit-filters" not in partial.text
    assert [row["id"] for row in rows(partial)] == archived[audit.PAGE_SIZE :]
    assert 'id="more-audit"' not in partial.text  # the end: no link for more
    assert "No entry matches." not in partial.text

    boosted = await as_ada.get(more_url, headers={**HTMX, "hx-boosted": "true"})
    assert "<html" in boosted.text  # a boosted navigation gets the whole page
    assert "<html" in (await as_ada.get(more_url, headers=HTML)).text


async def test_a_member_may_not_read_the_log_nor_see_its_menu_entry(
    acme: TenantContext, people: dict[str, User], history: httpx.AsyncClient, browser: Browser
) -> None:
    as_bea = await browser(people["bea"])
    assert (await as_bea.get("/t/acme/audit", headers=HTML)).status_code == 403
    assert (await as_bea.get("/t/acme/audit", headers=HTMX)).status_code == 403
    assert (await as_bea.get("/t/acme/audit/export")).status_code == 403
    parties = await as_bea.get("/t/acme/parties", headers=HTML)
    assert parties.status_code == 200
    assert 'href="/t/acme/audit"' not in parties.text
    assert 'href="/t/acme/audit"' in (await history.get("/t/acme/parties", headers=HTML)).text


async def test_another_workspace_s_entries_never_show(
    db: Database, make_tenant, history: httpx.AsyncClient, browser: Browser
) -> None:
    globex = await make_tenant("globex")
    gus = await user(db, "Gus")
    await join(db, globex, gus, roles.ADMIN)
    as_owner = await browser(await the_test_owner(db))
    made = await as_owner.post(
        "/api/t/globex/roles", json={"name": "Globex secret role", "permissions": []}
    )
    assert made.status_code == 201, made.text
    async with db.tenant_transaction(globex.tenant_id) as session:
        await audit.record(session, "globex.only.action", actor_id=gus.id)

    page = await history.get("/t/acme/audit", headers=HTML)
    assert "Globex secret role" not in page.text
    assert "globex.only.action" not in page.text
    assert "Gus" not in page.text
    assert all(row["code"] != "globex.only.action" for row in rows(page))
    only_theirs = await history.get(
        "/t/acme/audit", params={"action": "globex.only.action"}, headers=HTML
    )
    assert rows(only_theirs) == []
    by_gus = await history.get("/t/acme/audit", params={"actor_id": str(gus.id)}, headers=HTML)
    assert rows(by_gus) == []
    exported = csv_rows(await history.get("/t/acme/audit/export", params={"format": "csv"}))
    assert "Globex secret role" not in str(exported)
    # Ada is not a member of globex: its log is not hers to read.
    assert (await history.get("/t/globex/audit", headers=HTML)).status_code == 404


async def test_the_export_holds_the_filtered_rows(
    db: Database, people: dict[str, User], history: httpx.AsyncClient
) -> None:
    page = await history.get("/t/acme/audit", params={"action": "core.role.created"})
    link = re.search(r'<a href="([^"]+)" hx-boost="false" id="export-csv">', page.text)
    assert link, page.text
    exported = await history.get(html.unescape(link[1]))
    assert exported.status_code == 200, exported.text
    assert 'filename="audit-log.csv"' in exported.headers["content-disposition"]
    (row,) = csv_rows(exported)
    assert list(row) == [
        "When",
        "Who",
        "Action",
        "Action code",
        "Subject",
        "Subject ID",
        "Details",
        "IP address",
    ]
    assert (row["Who"], row["Action"], row["Action code"], row["Subject"]) == (
        "Ada",
        "Role created",
        "core.role.created",
        "Role",
    )
    assert "name: Auditors" in row["Details"]
    assert datetime.fromisoformat(row["When"]).date() == datetime.now(UTC).date()

    everything = csv_rows(await history.get("/t/acme/audit/export"))
    assert [r["Action code"] for r in everything] == [
        "core.department.created",
        "core.member.roles_changed",
        "core.role.created",
    ]
    ada = str(people["ada"].id)
    workbook = await history.get("/t/acme/audit/export", params={"format": "xlsx", "actor_id": ada})
    assert workbook.status_code == 200, workbook.text
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert [(r[1], r[3]) for r in values[1:]] == [
        ("Ada", "core.member.roles_changed"),
        ("Ada", "core.role.created"),
    ]
    assert values[2][6].startswith("name: Auditors")

    chinese = csv_rows(
        await history.get("/t/acme/audit/export", params={"lang": "zh-CN", "actor_id": ada})
    )
    assert "IP 地址" in chinese[0]
    assert chinese[0]["操作"] == "修改成员角色"
    refused = await history.get("/t/acme/audit/export", params={"format": "pdf"})
    assert refused.status_code == 422
