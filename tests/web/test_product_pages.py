"""The product pages over real HTTP: the list, a product's page (money in the reader's
language, its unit conversions, attachments and timeline), and the form that creates and
changes products, with permissions, refusals shown beside their inputs, and two workspaces.

Each person is their own browser: a session cookie signed in for that user, against the
real app on a loopback port.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from core import roles
from core.context import TenantContext
from core.db import Database
from core.products import services as catalogue
from tests.web.test_parties_api import HTML, Browser, join, the_test_owner, user
from tests.web.test_records_api import PNG
from tests.web.test_recovery_pages import csrf


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    """An English workspace with its starting master data: USD, common units, no tax rates."""
    return await make_tenant("acme", seed=True)


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def unit_id(http: httpx.AsyncClient, code: str, slug: str = "acme") -> str:
    units = (await http.get(f"/api/t/{slug}/units")).json()
    return next(u["id"] for u in units if u["code"] == code)


async def make_product(
    http: httpx.AsyncClient, sku: str, name: str, slug: str = "acme", **fields
) -> dict:
    body = {"sku": sku, "name": name, "uom_id": await unit_id(http, "pcs", slug), **fields}
    made = await http.post(f"/api/t/{slug}/products", json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def skus(http: httpx.AsyncClient, slug: str = "acme") -> list[str]:
    listed = await http.get(f"/api/t/{slug}/products", params={"include_archived": "true"})
    assert listed.status_code == 200, listed.text
    return [p["sku"] for p in listed.json()["items"]]


async def changes_on_timeline(http: httpx.AsyncClient, product_id: str) -> list[list[dict]]:
    """The tracked changes on the product's timeline, newest first, each as its fields."""
    answer = await http.get(f"/api/t/acme/records/core.product/{product_id}/timeline")
    assert answer.status_code == 200, answer.text
    return [
        [{k: c[k] for k in ("field", "from", "to")} for c in entry["changes"]]
        for entry in answer.json()["items"]
        if entry["kind"] == "change"
    ]


async def form_token(http: httpx.AsyncClient, url: str) -> str:
    page = await http.get(url, headers=HTML)
    assert page.status_code == 200, page.text
    return csrf(page)


def form_fields(token: str, unit: str, **fields: str) -> dict[str, str]:
    """What the browser sends for a new active stockable product, with ``fields`` on top."""
    return {
        "_csrf_token": token,
        "sku": "WID-1",
        "name": "Widget",
        "kind": "stockable",
        "category_id": "",
        "uom_id": unit,
        "sale_price": "9.90",
        "standard_cost": "4.20",
        "tax_rate_id": "",
        "barcode": "",
        "active": "on",
        **fields,
    }


def error_beside(page: httpx.Response, field: str) -> str:
    """The message shown beside the input ``field``, which points at it."""
    assert f'name="{field}"' in page.text
    assert f'aria-describedby="{field}-error"' in page.text
    return page.text.split(f'id="{field}-error">')[1].split("</p>")[0]


# --- a product's page --------------------------------------------------------------------------


async def test_a_product_page_shows_it_with_money_in_the_readers_language(
    db: Database, make_tenant, browser: Browser
) -> None:
    zhong = await make_tenant("zhong", locale="zh-CN", seed=True)  # CNY, VAT rates
    owner = await browser(await the_test_owner(db))
    async with db.tenant_transaction(zhong.tenant_id) as session:
        hardware = await catalogue.create_category(session, "Hardware")
        fasteners = await catalogue.create_category(session, "Fasteners", hardware.id)
        box = await catalogue.create_unit(session, "box", "Box", "unit")
    rates = (await owner.get("/api/t/zhong/tax-rates")).json()
    vat = next(r for r in rates if r["rate"] == "0.1300")
    made = await make_product(
        owner,
        "BOLT-M8",
        "Hex bolt M8",
        slug="zhong",
        kind="consumable",
        category_id=str(fasteners.id),
        sale_price="1234.50",
        standard_cost="800",
        tax_rate_id=vat["id"],
        barcode="4006381333931",
    )
    async with db.tenant_transaction(zhong.tenant_id) as session:
        pieces = await catalogue.unit_by_code(session, "pcs")
        await catalogue.add_conversion(
            session, box.id, pieces.id, 50, product_id=uuid.UUID(made["id"])
        )
    url = f"/t/zhong/products/{made['id']}"
    shown = await owner.post(
        f"/api/t/zhong/records/core.product/{made['id']}/attachments",
        files={"file": ("bolt drawing.png", PNG, "image/png")},
    )
    assert shown.status_code == 201, shown.text

    english = await owner.get(url, params={"lang": "en"}, headers=HTML)
    assert english.status_code == 200
    for expected in (
        "<h1>Hex bolt M8</h1>",
        '<td id="product-sku">BOLT-M8</td>',
        "Consumable",
        '<td id="product-category">Hardware / Fasteners</td>',
        "(pcs)</td>",
        '<td id="product-sale-price">CN¥1,234.50</td>',
        '<td id="product-standard-cost">CN¥800.00</td>',
        f'<td id="product-tax-rate">{vat["name"]}</td>',
        '<td id="product-barcode">4006381333931</td>',
        '<td id="product-active">Yes</td>',
        '1 box = 50 pcs <span class="muted">(this product only)</span>',
        "1 dozen = 12 pcs</li>",
        f'href="/t/zhong/products/{made["id"]}/edit" id="edit-product"',
        # The attachments section as on the party page: the file, and the upload form.
        'id="record-attachments"',
        "bolt drawing.png",
        f'action="/t/zhong/records/core.product/{made["id"]}/attachments"',
        'id="record-timeline"',
    ):
        assert expected in english.text, expected

    chinese = await owner.get(url, params={"lang": "zh-CN"}, headers=HTML)
    for expected in (
        '<td id="product-sale-price">¥1,234.50</td>',
        "<th>销售价</th>",
        "消耗品",
        "附件",
    ):
        assert expected in chinese.text, expected

    listed = await owner.get("/t/zhong/products", params={"lang": "en"}, headers=HTML)
    assert f'<a href="{url}">BOLT-M8</a>' in listed.text
    assert "CN¥1,234.50" in listed.text
    assert 'id="new-product"' in listed.text


async def test_a_member_without_write_reads_but_gets_403_on_the_form_and_no_buttons(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    made = await make_product(owner, "SCR-100", "Wood screw", sale_price="0.35")
    mei = await user(db, "Mei")
    await join(db, acme, mei, roles.MEMBER)
    as_mei = await browser(mei)

    listed = await as_mei.get("/t/acme/products", headers=HTML)
    assert listed.status_code == 200
    assert f'href="/t/acme/products/{made["id"]}"' in listed.text
    assert 'id="new-product"' not in listed.text
    page = await as_mei.get(f"/t/acme/products/{made['id']}", headers=HTML)
    assert page.status_code == 200
    assert "$0.35" in page.text
    assert 'id="edit-product"' not in page.text
    assert 'id="record-attachments"' in page.text
    assert 'id="attachment-upload"' not in page.text

    for url in ("/t/acme/products/new", f"/t/acme/products/{made['id']}/edit"):
        assert (await as_mei.get(url, headers=HTML)).status_code == 403, url
    token = await form_token(as_mei, "/account")  # a real token: the refusal is the guard's
    pieces = await unit_id(owner, "pcs")
    refused = await as_mei.post(
        "/t/acme/products/new", data=form_fields(token, pieces), headers=HTML
    )
    assert refused.status_code == 403
    changed = await as_mei.post(
        f"/t/acme/products/{made['id']}/edit",
        data=form_fields(token, pieces, sku="SCR-100", name="Renamed"),
        headers=HTML,
    )
    assert changed.status_code == 403
    assert await skus(owner) == ["SCR-100"]
    assert (await owner.get(f"/api/t/acme/products/{made['id']}")).json()["name"] == "Wood screw"


# --- the form ----------------------------------------------------------------------------------


async def test_the_form_creates_a_product_and_its_page_follows(owner: httpx.AsyncClient) -> None:
    listed = await owner.get("/t/acme/products", headers=HTML)
    assert 'href="/t/acme/products/new" id="new-product"' in listed.text
    form = await owner.get("/t/acme/products/new", headers=HTML)
    for label in ("SKU", "Name", "Product type", "Category", "Unit", "Sale price (USD)"):
        assert f"<label>{label}" in form.text, label
    pieces = await unit_id(owner, "pcs")
    created = await owner.post(
        "/t/acme/products/new",
        data=form_fields(csrf(form), pieces, sale_price="1,234.5", barcode="4006381333931"),
        headers=HTML,
    )
    assert created.status_code == 303, created.text
    product_id = created.headers["location"].rsplit("/", 1)[1]
    stored = (await owner.get(f"/api/t/acme/products/{product_id}")).json()
    assert (stored["sku"], stored["sale_price"], stored["standard_cost"], stored["active"]) == (
        "WID-1",
        "1234.50",
        "4.20",
        True,
    )
    page = await owner.get(created.headers["location"], headers=HTML)
    assert '<td id="product-sale-price">$1,234.50</td>' in page.text


async def test_a_bad_price_or_a_taken_sku_is_shown_beside_its_input_and_writes_nothing(
    owner: httpx.AsyncClient,
) -> None:
    await make_product(owner, "SCR-100", "Wood screw")
    token = await form_token(owner, "/t/acme/products/new")
    pieces = await unit_id(owner, "pcs")

    too_precise = await owner.post(
        "/t/acme/products/new",
        data=form_fields(token, pieces, sale_price="12.345", name="Widget 两用"),
        headers=HTML,
    )
    assert too_precise.status_code == 422
    assert error_beside(too_precise, "sale_price") == (
        "A price or cost is zero or more, with at most 2 decimal places."
    )
    assert 'value="12.345"' in too_precise.text  # what was typed is kept
    assert 'value="Widget 两用"' in too_precise.text
    assert f'<option value="{pieces}" selected>' in too_precise.text

    not_a_number = await owner.post(
        "/t/acme/products/new",
        data=form_fields(token, pieces, standard_cost="cheap", uom_id=""),
        headers=HTML,
    )
    assert not_a_number.status_code == 422
    assert error_beside(not_a_number, "standard_cost") == "cheap is not a number."
    assert error_beside(not_a_number, "uom_id") == "Choose the unit it is counted in."

    taken = await owner.post(
        "/t/acme/products/new", data=form_fields(token, pieces, sku="scr-100"), headers=HTML
    )
    assert taken.status_code == 409
    assert error_beside(taken, "sku") == "There is already a product with the SKU scr-100."
    assert 'value="scr-100"' in taken.text

    chinese = await owner.post(
        "/t/acme/products/new?lang=zh-CN",
        data=form_fields(token, pieces, standard_cost="cheap"),
        headers=HTML,
    )
    assert error_beside(chinese, "standard_cost") == "cheap 不是数字。"
    assert await skus(owner) == ["SCR-100"]  # none of these wrote anything


async def test_an_edit_is_a_tracked_change_on_the_products_timeline(
    owner: httpx.AsyncClient,
) -> None:
    made = await make_product(owner, "SCR-100", "Wood screw", sale_price="0.35")
    other = await make_product(owner, "SCR-200", "Machine screw")
    edit_url = f"/t/acme/products/{made['id']}/edit"
    form = await owner.get(edit_url, headers=HTML)
    assert form.status_code == 200
    assert 'value="SCR-100"' in form.text
    assert 'value="0.35"' in form.text
    pieces, kilos = await unit_id(owner, "pcs"), await unit_id(owner, "kg")
    token = csrf(form)

    taken = await owner.post(
        edit_url,
        data=form_fields(token, pieces, sku=other["sku"], name="Wood screw", sale_price="0.40"),
        headers=HTML,
    )
    assert taken.status_code == 409
    assert error_beside(taken, "sku") == "There is already a product with the SKU SCR-200."
    assert (await owner.get(f"/api/t/acme/products/{made['id']}")).json() == made
    assert await changes_on_timeline(owner, made["id"]) == []

    saved = await owner.post(
        edit_url,
        data=form_fields(
            token,
            kilos,
            sku="SCR-100",
            name="Wood screw 4x40",
            sale_price="0.40",
            standard_cost="0",
            active="",  # the box cleared: archived
        ),
        headers=HTML,
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/t/acme/products/{made['id']}"
    assert await changes_on_timeline(owner, made["id"]) == [
        [
            {"field": "name", "from": "Wood screw", "to": "Wood screw 4x40"},
            {"field": "unit", "from": "pcs", "to": "kg"},
            {"field": "sale_price", "from": "0.35", "to": "0.40"},
            {"field": "active", "from": "true", "to": "false"},
        ]
    ]
    page = await owner.get(saved.headers["location"], headers=HTML)
    assert 'id="product-archived">Archived' in page.text
    assert "Sale price: 0.35 → 0.40" in page.text
    assert "Test Owner" in page.text  # who changed it
    assert await skus(owner) == ["SCR-100", "SCR-200"]  # archived, not deleted

    # The JSON API's changes are tracked the same way; one that changes nothing is not.
    patched = await owner.patch(f"/api/t/acme/products/{made['id']}", json={"active": True})
    assert patched.status_code == 200
    unchanged = await owner.patch(f"/api/t/acme/products/{made['id']}", json={"active": True})
    assert unchanged.status_code == 200
    changes = await changes_on_timeline(owner, made["id"])
    assert len(changes) == 2
    assert changes[0] == [{"field": "active", "from": "false", "to": "true"}]


async def test_another_workspaces_product_is_not_found(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, make_tenant
) -> None:
    await make_tenant("beta", seed=True)  # the test owner owns both workspaces
    theirs = await make_product(owner, "BETA-1", "Beta's own", slug="beta")
    token = await form_token(owner, "/t/acme/products/new")
    pieces = await unit_id(owner, "pcs")
    for url in (f"/t/acme/products/{theirs['id']}", f"/t/acme/products/{theirs['id']}/edit"):
        assert (await owner.get(url, headers=HTML)).status_code == 404, url
    refused = await owner.post(
        f"/t/acme/products/{theirs['id']}/edit",
        data=form_fields(token, pieces, sku="BETA-1", name="Taken over"),
        headers=HTML,
    )
    assert refused.status_code == 404
    assert (await owner.get(f"/api/t/beta/products/{theirs['id']}")).json() == theirs
    assert (await owner.get(f"/t/beta/products/{theirs['id']}", headers=HTML)).status_code == 200
