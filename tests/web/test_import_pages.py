"""The import pages over real HTTP, as a signed-in browser uses them: upload, the suggested
mapping, the dry run with every bad row, the all-or-nothing import, permissions, and uploads
kept per workspace and member."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core import roles
from core.context import TenantContext
from core.db import Database
from core.errors import NotFound
from core.exchange import uploads
from core.models import Membership, User
from core.parties.models import Party
from core.products.models import Product
from core.records.storage import LocalFileStore
from tests.conftest import TEST_OWNER_EMAIL
from tests.pages import csrf
from web.auth import SESSION_COOKIE

HTML = {"accept": "text/html"}
HTMX = {"accept": "text/html", "hx-request": "true"}
UPLOADED = re.compile(r"^/t/acme/imports/parties/([0-9a-f-]{36})$")


def csv_file(*lines: str) -> tuple[str, bytes, str]:
    return ("list.csv", ("\r\n".join(lines) + "\r\n").encode("utf-8-sig"), "text/csv")


GOOD = csv_file(
    "名称*,电话,邮箱,角色,负责人",
    "Acme Trading,021-6123 4567,sales@acme.test,客户,张三",
    "Beta Logistics,,bob@beta.test,供应商,李四",
    "Gamma Foods,,info@gamma.test,两者,张三",
)
BAD = csv_file(
    "名称,邮箱,角色",
    "Acme Trading,sales@acme.test,客户",
    ",nobody@x.test,客户",
    "Beta Logistics,bob@beta,进口商",
)


class Page(HTMLParser):
    """What the tests read off a page: each select's chosen option, the hidden fields of
    the import form, and the cells of each bad row."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.selected: dict[str, str] = {}
        self.hidden: dict[str, str] = {}
        self.bad_rows: list[list[str]] = []
        self._select: str | None = None
        self._form: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "select":
            self._select = a.get("name")
            self.selected.setdefault(self._select or "", "")
        elif tag == "option" and self._select and "selected" in a:
            self.selected[self._select] = a.get("value") or ""
        elif tag == "form":
            self._form = a.get("id")
        elif tag == "input" and self._form == "import-form" and a.get("type") == "hidden":
            self.hidden[a["name"] or ""] = a.get("value") or ""
        elif tag == "tr" and a.get("class") == "bad-row":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._form = None
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.bad_rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    @property
    def mapping(self) -> dict[str, str]:
        return {name: value for name, value in self.selected.items() if name.startswith("column-")}


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme", seed=True)


async def member_of(db: Database, tenant: TenantContext, role: str) -> User:
    async with db.global_transaction() as session:
        user = User(email=f"{role}.{uuid.uuid4().hex[:6]}@imports.test", display_name=role.title())
        session.add(user)
    async with db.tenant_transaction(tenant.tenant_id) as session:
        session.add(Membership(user_id=user.id, role=role))
    return user


async def browser_of(live: str, sign_in, user_id: uuid.UUID) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=live)
    http.cookies.set(SESSION_COOKIE, await sign_in(user_id))
    return http


@pytest.fixture
async def owner(
    live: str, sign_in, db: Database, acme: TenantContext
) -> AsyncIterator[httpx.AsyncClient]:
    async with db.global_transaction() as session:
        user = await session.scalar(select(User).where(User.email == TEST_OWNER_EMAIL))
    assert user is not None
    async with await browser_of(live, sign_in, user.id) as http:
        yield http


async def upload(
    http: httpx.AsyncClient,
    file: tuple[str, bytes, str],
    kind: str = "parties",
    slug: str = "acme",
) -> httpx.Response:
    """Open step 1 (for its CSRF token) and send the file, as the form does."""
    start = await http.get(f"/t/{slug}/imports", params={"kind": kind}, headers=HTML)
    assert start.status_code == 200, start.text
    return await http.post(
        f"/t/{slug}/imports",
        data={"_csrf_token": csrf(start), "kind": kind},
        files={"file": file},
        headers=HTML,
    )


async def mapping_page(http: httpx.AsyncClient, file: tuple[str, bytes, str]) -> httpx.Response:
    sent = await upload(http, file)
    assert sent.status_code == 303, sent.text
    assert UPLOADED.match(sent.headers["location"]), sent.headers["location"]
    page = await http.get(sent.headers["location"], headers=HTML)
    assert page.status_code == 200, page.text
    return page


async def check(
    http: httpx.AsyncClient,
    page: httpx.Response,
    mapping: dict[str, str],
    headers=HTML,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """Send the mapping form of step 2."""
    return await http.post(
        f"{page.url.path}/check",
        data={"_csrf_token": csrf(page), **mapping},
        headers=headers,
        params=params,
    )


async def count(db: Database, tenant: TenantContext, model: type = Party) -> int:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_an_upload_shows_the_suggested_mapping_for_chinese_headers(
    owner: httpx.AsyncClient,
) -> None:
    page = await mapping_page(owner, GOOD)
    assert "Step 2 of 4" in page.text
    shown = Page(page.text)
    assert shown.mapping == {
        "column-0": "name",
        "column-1": "phone",
        "column-2": "email",
        "column-3": "role",
        "column-4": "",  # 负责人 (the person responsible) is no field: ignored unless chosen
    }
    for index, header in enumerate(("名称*", "电话", "邮箱", "角色", "负责人")):
        assert f'<label for="column-{index}">{header}</label>' in page.text
    assert "Acme Trading · Beta Logistics · Gamma Foods" in page.text  # a few values per column
    assert "The file has 3 rows below their headers." in page.text
    assert 'hx-target="#import-check"' in page.text
    assert 'id="import-check"' in page.text

    chinese = await owner.get(page.url.path, headers=HTML, params={"lang": "zh-CN"})
    assert '<option value="phone" selected>电话</option>' in chinese.text  # labels translated
    assert Page(chinese.text).mapping == shown.mapping


async def test_bad_rows_are_listed_with_their_reasons_and_nothing_can_be_imported(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    page = await mapping_page(owner, BAD)
    mapping = Page(page.text).mapping
    assert mapping == {"column-0": "name", "column-1": "email", "column-2": "role"}

    checked = await check(owner, page, mapping)
    assert checked.status_code == 200, checked.text
    assert "Step 3 of 4" in checked.text
    assert Page(checked.text).bad_rows == [
        ["3", "名称", "名称 is required."],
        ["4", "邮箱", "bob@beta is not an e-mail address."],
        ["4", "角色", "进口商 is not customer, supplier or both."],
    ]
    assert "3 rows read." in checked.text
    assert '<li id="good-rows">1 row without errors</li>' in checked.text
    assert '<li id="bad-rows">2 rows with errors</li>' in checked.text
    assert 'id="import-rows"' not in checked.text
    assert 'id="import-form"' not in checked.text
    assert "Nothing is imported while any row has an error." in checked.text
    change = re.search(r'href="([^"]+)" id="change-mapping"', checked.text)
    assert change is not None

    # By htmx, the same report alone, for the element under the mapping form.
    fragment = await check(owner, page, mapping, headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="import-report">')
    assert len(Page(fragment.text).bad_rows) == 3

    # In Chinese, the reasons are translated.
    chinese = await check(owner, page, mapping, params={"lang": "zh-CN"})
    assert "bob@beta 不是有效的电子邮箱地址。" in chinese.text
    assert "名称 为必填项。" in chinese.text

    # Posting the import anyway writes nothing and says so.
    forced = await owner.post(
        f"{page.url.path}/run", data={"_csrf_token": csrf(page), **mapping}, headers=HTML
    )
    assert forced.status_code == 422
    assert "Nothing was imported" in forced.text
    assert len(Page(forced.text).bad_rows) == 3
    assert await count(db, acme) == 0

    # "Change the mapping" brings back the mapping that was chosen.
    back = await owner.get(change.group(1).replace("&amp;", "&"), headers=HTML)
    assert back.status_code == 200
    assert Page(back.text).mapping == mapping


async def test_a_good_file_imports_and_the_parties_exist(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    page = await mapping_page(owner, GOOD)
    checked = await check(owner, page, Page(page.text).mapping)
    assert checked.status_code == 200, checked.text
    assert '<li id="good-rows">3 rows without errors</li>' in checked.text
    assert '<li id="bad-rows">0 rows with errors</li>' in checked.text
    assert Page(checked.text).bad_rows == []
    assert 'id="import-rows"' in checked.text
    assert "Import 3 rows" in checked.text
    assert await count(db, acme) == 0  # the dry run wrote nothing

    form = Page(checked.text).hidden
    assert form.pop("_csrf_token")
    assert form == {
        "column-0": "name",
        "column-1": "phone",
        "column-2": "email",
        "column-3": "role",
    }
    imported = await owner.post(
        f"{page.url.path}/run", data={"_csrf_token": csrf(checked), **form}, headers=HTML
    )
    assert imported.status_code == 200, imported.text
    assert "3 records created." in imported.text
    assert 'href="/t/acme/parties" id="to-list"' in imported.text
    assert await count(db, acme) == 3

    listed = await owner.get("/t/acme/parties", params={"role": "supplier"}, headers=HTML)
    assert "Beta Logistics" in listed.text
    assert "Gamma Foods" in listed.text
    assert "Acme Trading" not in listed.text

    # The file is not kept once imported: sending it again finds nothing, and writes nothing.
    for _ in range(50):
        again = await owner.get(page.url.path, headers=HTML)
        if again.status_code == 404:
            break
        await asyncio.sleep(0.02)
    assert again.status_code == 404
    assert "This file is no longer kept; upload it again." in again.text
    twice = await owner.post(
        f"{page.url.path}/run", data={"_csrf_token": csrf(checked), **form}, headers=HTML
    )
    assert twice.status_code == 404
    assert await count(db, acme) == 3


async def test_an_excel_file_of_products_imports(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["编码", "品名", "单位", "售价"])
    sheet.append(["SCR-001", "木螺丝", "kg", 12.5])
    sheet.append(["SCR-002", "机螺丝", "kg", 8])
    content = io.BytesIO()
    workbook.save(content)
    file = ("products.xlsx", content.getvalue(), "application/octet-stream")

    sent = await upload(owner, file, kind="products")
    assert sent.status_code == 303, sent.text
    page = await owner.get(sent.headers["location"], headers=HTML)
    mapping = Page(page.text).mapping
    assert mapping == {
        "column-0": "sku",
        "column-1": "name",
        "column-2": "unit",
        "column-3": "sale_price",
    }
    checked = await check(owner, page, mapping)
    assert 'id="import-rows"' in checked.text, checked.text
    imported = await owner.post(
        f"{page.url.path}/run", data={"_csrf_token": csrf(checked), **mapping}, headers=HTML
    )
    assert imported.status_code == 200, imported.text
    assert "2 records created." in imported.text
    assert 'href="/t/acme/products" id="to-list"' in imported.text
    assert await count(db, acme, Product) == 2


async def test_what_cannot_be_used_is_said_on_the_form(owner: httpx.AsyncClient) -> None:
    old_excel = ("list.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "application/xls")
    refused = await upload(owner, old_excel)
    assert refused.status_code == 422
    assert 'id="file-error"' in refused.text
    assert 'aria-describedby="file-error"' in refused.text
    assert "Old Excel files (.xls) cannot be read; save the file as .xlsx or CSV." in refused.text
    assert 'value="parties" id="kind-parties" checked' in refused.text  # the choice is kept
    start = await owner.get("/t/acme/imports", headers=HTML)
    nothing = ("", b"", "application/octet-stream")  # what a browser sends with no file chosen
    no_file = await owner.post(
        "/t/acme/imports",
        data={"_csrf_token": csrf(start), "kind": "products"},
        files={"file": nothing},
        headers=HTML,
    )
    assert no_file.status_code == 422
    assert 'id="file-error">Choose a CSV or Excel file to upload.' in no_file.text
    no_kind = await owner.post(
        "/t/acme/imports", data={"_csrf_token": csrf(start)}, files={"file": GOOD}, headers=HTML
    )
    assert no_kind.status_code == 422
    assert 'id="kind-error">Choose what to import.' in no_kind.text

    page = await mapping_page(owner, GOOD)
    no_name = {**Page(page.text).mapping, "column-0": "", "column-4": "notes"}
    unmapped = await check(owner, page, no_name)
    assert unmapped.status_code == 422
    assert 'id="mapping-error"' in unmapped.text
    assert "Choose the column for Name: it is required." in unmapped.text
    assert Page(unmapped.text).mapping == no_name  # what was chosen is kept
    twice = await check(owner, page, {**no_name, "column-0": "email"})
    assert twice.status_code == 422
    assert "E-mail is mapped to two columns; keep one." in twice.text
    # By htmx the reason comes in the fragment, answered 200 so that htmx shows it.
    fragment = await check(owner, page, no_name, headers=HTMX)
    assert fragment.status_code == 200
    assert "Choose the column for Name: it is required." in fragment.text


async def test_a_member_without_the_import_permission_gets_403_and_no_link(
    live: str, sign_in, owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    parties = await owner.get("/t/acme/parties", headers=HTML)
    assert 'href="/t/acme/imports?kind=parties" id="import-parties"' in parties.text
    products = await owner.get("/t/acme/products", headers=HTML)
    assert 'href="/t/acme/imports?kind=products" id="import-products"' in products.text
    page = await mapping_page(owner, GOOD)

    clerk = await member_of(db, acme, roles.MEMBER)
    async with await browser_of(live, sign_in, clerk.id) as browser:
        listed = await browser.get("/t/acme/parties", headers=HTML)
        assert listed.status_code == 200
        assert 'id="import-parties"' not in listed.text
        catalogue = await browser.get("/t/acme/products", headers=HTML)
        assert catalogue.status_code == 200
        assert 'id="import-products"' not in catalogue.text
        token = browser.cookies["atrium_csrf"]
        answers = [
            await browser.get("/t/acme/imports", headers=HTML),
            await browser.post(
                "/t/acme/imports",
                data={"_csrf_token": token, "kind": "parties"},
                files={"file": GOOD},
                headers=HTML,
            ),
            await browser.get(page.url.path, headers=HTML),
            await browser.post(
                f"{page.url.path}/check",
                data={"_csrf_token": token, "column-0": "name"},
                headers=HTML,
            ),
            await browser.post(
                f"{page.url.path}/run",
                data={"_csrf_token": token, "column-0": "name"},
                headers=HTML,
            ),
        ]
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert "You need the permission core.data.import." in answer.text
    assert await count(db, acme) == 0


async def test_an_upload_is_reachable_only_in_its_workspace_by_its_member(
    live: str, sign_in, owner: httpx.AsyncClient, db: Database, acme: TenantContext, make_tenant
) -> None:
    await make_tenant("beta", seed=True)  # the test owner owns it too
    page = await mapping_page(owner, GOOD)
    upload_id = UPLOADED.match(page.url.path).group(1)
    elsewhere = f"/t/beta/imports/parties/{upload_id}"
    beta_form = await owner.get("/t/beta/imports", headers=HTML)
    for answer in (
        await owner.get(elsewhere, headers=HTML),
        await owner.post(
            f"{elsewhere}/check",
            data={"_csrf_token": csrf(beta_form), "column-0": "name"},
            headers=HTML,
        ),
        await owner.post(
            f"{elsewhere}/run",
            data={"_csrf_token": csrf(beta_form), "column-0": "name"},
            headers=HTML,
        ),
    ):
        assert answer.status_code == 404, answer.text
        assert "This file is no longer kept; upload it again." in answer.text

    admin = await member_of(db, acme, roles.ADMIN)  # may import, but this upload is not theirs
    async with await browser_of(live, sign_in, admin.id) as colleague:
        assert (await colleague.get(page.url.path, headers=HTML)).status_code == 404
    assert (await owner.get(page.url.path, headers=HTML)).status_code == 200
    assert await count(db, acme) == 0


async def test_uploads_are_kept_by_workspace_and_member_and_swept_when_stale(
    tmp_path: Path,
) -> None:
    store = LocalFileStore(tmp_path)
    acme, beta, ann, bob = (uuid.uuid4() for _ in range(4))
    kept = await uploads.keep(store, acme, ann, b"Name\r\nAcme\r\n")
    assert await uploads.load(store, acme, ann, kept) == b"Name\r\nAcme\r\n"
    for tenant, user in ((beta, ann), (acme, bob)):
        with pytest.raises(NotFound):
            await uploads.load(store, tenant, user, kept)
    other = await uploads.keep(store, beta, ann, b"Name\r\n")

    now = datetime.now(UTC)
    assert await uploads.sweep(store, acme, now) == 0  # a fresh upload stays
    assert await uploads.sweep(store, acme, now + timedelta(days=2)) == 1
    with pytest.raises(NotFound):
        await uploads.load(store, acme, ann, kept)
    assert await uploads.load(store, beta, ann, other) == b"Name\r\n"  # another workspace's
