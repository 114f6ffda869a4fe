"""Spreadsheet imports over real HTTP: preview with the suggested mapping, dry run, all-or-nothing
import, permissions, and files or kinds that cannot be imported."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from core import roles
from core.context import TenantContext
from core.db import Database
from core.models import Membership, User
from core.parties.models import Party
from tests.conftest import TEST_OWNER_EMAIL
from web.auth import SESSION_COOKIE

IMPORTS = "/api/t/acme/imports"


def csv_file(*lines: str) -> tuple[str, bytes, str]:
    return ("list.csv", ("\r\n".join(lines) + "\r\n").encode("utf-8-sig"), "text/csv")


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme")


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
    async with await browser_of(live, sign_in, user.id) as http:
        yield http


async def party_count(db: Database, acme: TenantContext) -> int:
    async with db.tenant_transaction(acme.tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(Party))


async def run(
    http: httpx.AsyncClient, file: tuple[str, bytes, str], mapping: dict, *, dry_run: bool
) -> httpx.Response:
    return await http.post(
        f"{IMPORTS}/parties",
        files={"file": file},
        data={"mapping": json.dumps(mapping), "dry_run": str(dry_run).lower()},
    )


PARTIES = csv_file(
    "名称,邮箱,电话,角色",
    "Acme Trading,sales@acme.test,021-6123 4567,客户",
    "Beta Logistics,bob@beta,,供应商",  # no domain: the one bad row
    "Gamma Foods,info@gamma.test,,两者",
)
MAPPING = {"0": "name", "1": "email", "2": "phone", "3": "role"}


async def test_a_preview_suggests_the_mapping_for_chinese_headers(
    owner: httpx.AsyncClient,
) -> None:
    rows = [f"客户{n},138{n:08d},c{n}@x.test,客户,路{n}号,上海,,张三" for n in range(25)]
    file = csv_file("名称*,电话,邮箱,角色,地址,省份,备注,负责人", *rows)
    answer = await owner.post(f"{IMPORTS}/parties/preview", files={"file": file})
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert preview["headers"] == ["名称*", "电话", "邮箱", "角色", "地址", "省份", "备注", "负责人"]
    assert preview["total_rows"] == 25
    assert len(preview["rows"]) == 20
    assert preview["rows"][0] == [
        "客户0",
        "13800000000",
        "c0@x.test",
        "客户",
        "路0号",
        "上海",
        "",
        "张三",
    ]
    assert preview["mapping"] == {
        "0": "name",
        "1": "phone",
        "2": "email",
        "3": "role",
        "4": "address",
        "5": "region",
        "6": "notes",
    }  # 负责人 (the person responsible) is no field: left for the user
    fields = {f["key"]: f for f in preview["fields"]}
    assert fields["name"] == {"key": "name", "label": "Name", "required": True}
    assert fields["phone"]["required"] is False


async def test_a_dry_run_reports_every_bad_row_and_writes_nothing(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    file = csv_file(
        "名称,邮箱,电话,角色",
        "Acme Trading,sales@acme.test,,客户",
        ",nobody@x.test,,客户",
        "Beta Logistics,bob@beta,,进口商",
    )
    answer = await run(owner, file, MAPPING, dry_run=True)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["dry_run"], report["rows"], report["imported"]) == (True, 3, 1)
    assert [
        (e["row"], e["column"], e["field"], e["code"], e["text"]) for e in report["errors"]
    ] == [
        (3, "名称", "name", "validation_failed", "名称 is required."),
        (4, "邮箱", "email", "validation_failed", "bob@beta is not an e-mail address."),
        (4, "角色", "role", "validation_failed", "进口商 is not customer, supplier or both."),
    ]
    assert await party_count(db, acme) == 0


async def test_a_real_import_with_one_bad_row_answers_422_and_writes_nothing(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    made = await owner.post("/api/t/acme/parties", json={"kind": "company", "name": "Old Co"})
    assert made.status_code == 201, made.text
    answer = await run(owner, PARTIES, MAPPING, dry_run=False)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["message"]) == (
        "import_rejected",
        "Rows with errors: 1. Nothing was imported.",
    )
    assert [(e["row"], e["column"], e["field"], e["text"]) for e in error["errors"]] == [
        (3, "邮箱", "email", "bob@beta is not an e-mail address.")
    ]
    assert await party_count(db, acme) == 1  # the good rows are not written either


async def test_a_clean_import_creates_every_row(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    clean = csv_file(
        "名称,邮箱,电话,角色",
        "Acme Trading,sales@acme.test,021-6123 4567,客户",
        "Beta Logistics,bob@beta.test,,供应商",
        "Gamma Foods,info@gamma.test,,两者",
    )
    answer = await run(owner, clean, MAPPING, dry_run=False)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"dry_run": False, "rows": 3, "imported": 3, "errors": []}
    listed = await owner.get("/api/t/acme/parties", params={"role": "supplier"})
    assert [p["name"] for p in listed.json()["items"]] == ["Beta Logistics", "Gamma Foods"]
    assert await party_count(db, acme) == 3


async def test_a_member_without_the_import_permission_is_refused(
    live: str, sign_in, db: Database, acme: TenantContext
) -> None:
    async with db.global_transaction() as session:
        user = User(email=f"clerk.{uuid.uuid4().hex[:6]}@imports.test", display_name="Clerk")
        session.add(user)
    async with db.tenant_transaction(acme.tenant_id) as session:
        session.add(Membership(user_id=user.id, role=roles.MEMBER))
    async with await browser_of(live, sign_in, user.id) as clerk:
        previewed = await clerk.post(f"{IMPORTS}/parties/preview", files={"file": PARTIES})
        imported = await run(clerk, PARTIES, MAPPING, dry_run=True)
    for refused in (previewed, imported):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["message"] == ("You need the permission core.data.import.")
    assert await party_count(db, acme) == 0


async def test_unknown_kinds_unreadable_files_and_bad_mappings_are_refused(
    owner: httpx.AsyncClient,
) -> None:
    unknown = await owner.post(f"{IMPORTS}/invoices/preview", files={"file": PARTIES})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "Nothing to import called invoices."

    old_excel = ("list.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, "application/xls")
    unreadable = await owner.post(f"{IMPORTS}/parties/preview", files={"file": old_excel})
    assert unreadable.status_code == 422
    assert unreadable.json()["error"]["message"] == (
        "Old Excel files (.xls) cannot be read; save the file as .xlsx or CSV."
    )
    broken = ("list.xlsx", b"PK\x03\x04 not really a zip", "application/octet-stream")
    unreadable = await run(owner, broken, MAPPING, dry_run=True)
    assert unreadable.status_code == 422
    assert unreadable.json()["error"]["message"] == (
        "The file is not a readable Excel (.xlsx) file."
    )

    no_json = await owner.post(
        f"{IMPORTS}/parties", files={"file": PARTIES}, data={"mapping": "name", "dry_run": "true"}
    )
    assert no_json.status_code == 422
    assert no_json.json()["error"]["message"] == (
        'The mapping is JSON from column number to field key, such as {"0": "name"}.'
    )
    no_name = await run(owner, PARTIES, {"1": "email"}, dry_run=True)
    assert no_name.status_code == 422
    assert no_name.json()["error"]["message"] == "Choose the column for Name: it is required."
