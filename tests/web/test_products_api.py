"""Products, units, tax rates and currencies over real HTTP: the JSON API and the list page,
with permissions, bad input and two workspaces."""

from __future__ import annotations

import uuid

import httpx
import pytest

from core import roles
from core.context import TenantContext
from core.db import Database
from tests.web.test_parties_api import HTML, Browser, csv_rows, join, the_test_owner, user


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


async def skus(http: httpx.AsyncClient, slug: str = "acme", **params) -> list[str]:
    listed = await http.get(f"/api/t/{slug}/products", params=params)
    assert listed.status_code == 200, listed.text
    return [p["sku"] for p in listed.json()["items"]]


async def test_a_product_is_created_read_listed_and_changed(owner: httpx.AsyncClient) -> None:
    units = (await owner.get("/api/t/acme/units")).json()
    assert {"code": "kg", "dimension": "weight", "name": "Kilogram"}.items() <= next(
        u for u in units if u["code"] == "kg"
    ).items()

    made = await make_product(
        owner, "SCR-100", "Wood screw 4x40", sale_price="0.35", standard_cost=0.12
    )
    assert (made["sale_price"], made["standard_cost"], made["kind"], made["active"]) == (
        "0.35",
        "0.12",
        "stockable",
        True,
    )
    assert (await owner.get(f"/api/t/acme/products/{made['id']}")).json() == made

    changed = await owner.patch(
        f"/api/t/acme/products/{made['id']}",
        json={"sale_price": "0.40", "barcode": "4006381333931"},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["sale_price"], changed.json()["barcode"], changed.json()["name"]) == (
        "0.40",
        "4006381333931",
        "Wood screw 4x40",
    )
    archived = await owner.patch(f"/api/t/acme/products/{made['id']}", json={"active": False})
    assert archived.json()["active"] is False
    assert await skus(owner) == []
    assert await skus(owner, include_archived="true") == ["SCR-100"]


async def test_the_catalogue_pages_by_sku_and_searches(owner: httpx.AsyncClient) -> None:
    for sku, name, kind in [
        ("d-4", "Drill", "stockable"),
        ("A-1", "Anchor", "stockable"),
        ("c-3", "Consulting hour", "service"),
        ("B-2", "Bolt", "stockable"),
    ]:
        await make_product(owner, sku, name, kind=kind)
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 3, **({"after": after} if after else {})}
        page = (await owner.get("/api/t/acme/products", params=params)).json()
        seen += [p["sku"] for p in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert seen == ["A-1", "B-2", "c-3", "d-4"]  # by SKU, ignoring case
    assert await skus(owner, q="bol") == ["B-2"]
    assert await skus(owner, kind="service") == ["c-3"]
    assert await skus(owner, q="", kind="", after="") == seen  # blank filters: any

    exported = csv_rows(await owner.get("/api/t/acme/products/export", params={"q": "drill"}))
    assert [(r["SKU"], r["Name"], r["Unit"]) for r in exported] == [("d-4", "Drill", "pcs")]


async def test_tax_rates_and_currencies_are_listed(
    make_tenant, db: Database, browser: Browser
) -> None:
    await make_tenant("zhong", locale="zh-CN", seed=True)
    owner = await browser(await the_test_owner(db))
    rates = (await owner.get("/api/t/zhong/tax-rates")).json()
    assert [(r["rate"], r["is_default"]) for r in rates] == [
        ("0.1300", True),
        ("0.0900", False),
        ("0.0600", False),
        ("0.0000", False),
    ]
    assert (await owner.get("/api/t/zhong/currencies")).json() == [
        {"code": "CNY", "is_base": True, "decimals": 2}
    ]
    wrong_use = await owner.get("/api/t/zhong/tax-rates", params={"use": "gift"})
    assert wrong_use.status_code == 422


async def test_a_member_reads_the_catalogue_but_may_not_change_it(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    made = await make_product(owner, "SCR-100", "Wood screw")
    mei = await user(db, "Mei")
    await join(db, acme, mei)
    as_mei = await browser(mei)
    assert await skus(as_mei) == ["SCR-100"]  # products have no data scope
    assert (await as_mei.get(f"/api/t/acme/products/{made['id']}")).status_code == 200
    assert (await as_mei.get("/api/t/acme/units")).status_code == 200

    for refused in (
        await as_mei.post(
            "/api/t/acme/products",
            json={"sku": "X-1", "name": "X", "uom_id": made["uom_id"]},
        ),
        await as_mei.patch(f"/api/t/acme/products/{made['id']}", json={"name": "Mine"}),
    ):
        assert refused.status_code == 403
        assert refused.json()["error"]["permission"] == "core.product.write"
    assert (await owner.get(f"/api/t/acme/products/{made['id']}")).json()["name"] == "Wood screw"

    ada = await user(db, "Ada")
    await join(db, acme, ada, roles.ADMIN)
    assert (
        await (await browser(ada)).patch(
            f"/api/t/acme/products/{made['id']}", json={"name": "Wood screw 4x40"}
        )
    ).status_code == 200


async def test_bad_input_is_a_4xx_json_answer_and_never_a_500(owner: httpx.AsyncClient) -> None:
    made = await make_product(owner, "SCR-100", "Wood screw", barcode="4006381333931")
    pcs = made["uom_id"]
    conflicts = {
        "SKU taken, in another case": {"sku": "scr-100", "name": "Again", "uom_id": pcs},
        "barcode taken": {
            "sku": "SCR-200",
            "name": "Again",
            "uom_id": pcs,
            "barcode": "4006381333931",
        },
    }
    for what, body in conflicts.items():
        answer = await owner.post("/api/t/acme/products", json=body)
        assert answer.status_code == 409, (what, answer.text)
    domain_refusals = {
        "three decimals": {"sku": "S-1", "name": "X", "uom_id": pcs, "sale_price": "0.355"},
        "negative cost": {"sku": "S-1", "name": "X", "uom_id": pcs, "standard_cost": -1},
        "not finite": {"sku": "S-1", "name": "X", "uom_id": pcs, "sale_price": "NaN"},
        "unknown kind": {"sku": "S-1", "name": "X", "uom_id": pcs, "kind": "magic"},
        "blank SKU": {"sku": " ", "name": "X", "uom_id": pcs},
        "bad check digit": {"sku": "S-1", "name": "X", "uom_id": pcs, "barcode": "4006381333932"},
    }
    for what, body in domain_refusals.items():
        answer = await owner.post("/api/t/acme/products", json=body)
        assert answer.status_code == 422, (what, answer.text)
        assert answer.json()["error"]["code"] == "validation_failed", what
    unknown_unit = await owner.post(
        "/api/t/acme/products", json={"sku": "S-1", "name": "X", "uom_id": str(uuid.uuid4())}
    )
    assert unknown_unit.status_code == 404
    shape_refusals = {
        "no unit": await owner.post("/api/t/acme/products", json={"sku": "S-1", "name": "X"}),
        "price not a number": await owner.post(
            "/api/t/acme/products",
            json={"sku": "S-1", "name": "X", "uom_id": pcs, "sale_price": "cheap"},
        ),
        "not json": await owner.patch(
            f"/api/t/acme/products/{made['id']}",
            content=b"[",
            headers={"content-type": "application/json"},
        ),
    }
    for what, answer in shape_refusals.items():
        assert answer.status_code == 400, (what, answer.text)
        assert answer.json()["error"]["code"] == "bad_request", what
    assert (await owner.get("/api/t/acme/products", params={"kind": "magic"})).status_code == 422
    assert (await owner.get(f"/api/t/acme/products/{uuid.uuid4()}")).status_code == 404
    assert await skus(owner) == ["SCR-100"]


async def test_two_workspaces_never_see_each_others_products(
    make_tenant, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    await make_tenant("other", seed=True)
    ours = await make_product(owner, "SCR-100", "Wood screw")
    await make_product(owner, "SCR-100", "Their screw", slug="other")  # the same SKU: fine there
    assert await skus(owner, slug="other") == ["SCR-100"]
    assert (await owner.get("/api/t/other/products")).json()["items"][0]["name"] == "Their screw"
    assert (await owner.get(f"/api/t/other/products/{ours['id']}")).status_code == 404
    assert (
        await owner.patch(f"/api/t/other/products/{ours['id']}", json={"name": "Taken"})
    ).status_code == 404
    # A unit of one workspace cannot be used in the other.
    borrowed = await owner.post(
        "/api/t/other/products", json={"sku": "B-1", "name": "Borrowed", "uom_id": ours["uom_id"]}
    )
    assert borrowed.status_code == 404


async def test_the_product_page_lists_searches_and_pages(owner: httpx.AsyncClient) -> None:
    made = await make_product(owner, "SCR-100", "Wood screw", sale_price="1234.50")
    await make_product(owner, "CON-1", "Consulting hour", kind="service")
    page = await owner.get("/t/acme/products", headers=HTML)
    assert page.status_code == 200
    assert f'id="product-{made["id"]}"' in page.text
    assert "$1,234.50" in page.text  # in the workspace's base currency, for the locale
    assert "Service" in page.text
    found = await owner.get("/t/acme/products", params={"q": "wood"}, headers=HTML)
    assert "Wood screw" in found.text
    assert "Consulting hour" not in found.text
    assert 'id="next-page"' not in found.text
    for number in range(50):
        await make_product(owner, f"P-{number:03}", f"Part {number}")
    first = await owner.get("/t/acme/products", headers=HTML)
    next_url = first.text.split('id="next-page"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = await owner.get(next_url.replace("&amp;", "&"), headers=HTML)
    assert "SCR-100" in second.text
    assert "CON-1" not in second.text
