"""Global search over real HTTP: core's parties (within the member's data scope) and
products beside the enabled modules' hits, on the page and in the JSON API.

Each person is their own browser (a session cookie for that user) against the real
app on a loopback port; an API token narrows what its holder finds.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from core import roles
from core.context import TenantContext
from core.db import Database
from core.identity import api_tokens
from core.models import Membership, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.products import services as catalogue
from tenants import services as tenants
from tests.conftest import TEST_OWNER_EMAIL, Browser
from tests.sample_module.services import NoteService

HTML = {"accept": "text/html"}


async def new_user(db: Database, name: str) -> User:
    async with db.global_transaction() as session:
        row = User(email=f"{name.lower()}.{uuid.uuid4().hex[:6]}@search.test", display_name=name)
        session.add(row)
        return row


async def join(db: Database, tenant: TenantContext, who: User, role: str = roles.MEMBER) -> None:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        session.add(Membership(user_id=who.id, role=role))


async def the_test_owner(db: Database) -> User:
    async with db.global_transaction() as session:
        owner = await session.scalar(select(User).where(User.email == TEST_OWNER_EMAIL))
        assert owner is not None
        return owner


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme", "sample")


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    """The test owner's browser (an owner of every workspace the test makes)."""
    return await browser(await the_test_owner(db))


async def make_party(http: httpx.AsyncClient, name: str, slug: str = "acme", **fields) -> dict:
    made = await http.post(
        f"/api/t/{slug}/parties", json={"kind": "company", "name": name, **fields}
    )
    assert made.status_code == 201, made.text
    return made.json()


async def hits(http: httpx.AsyncClient, q: str, slug: str = "acme", **headers) -> list[dict]:
    found = await http.get(f"/api/t/{slug}/search", params={"q": q}, headers=headers)
    assert found.status_code == 200, found.text
    return found.json()


async def test_a_member_finds_their_own_party_but_not_a_colleagues(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    mei, ken = await new_user(db, "Mei"), await new_user(db, "Ken")
    await join(db, acme, mei)
    await join(db, acme, ken)
    as_mei, as_ken = await browser(mei), await browser(ken)
    mine = await make_party(
        as_mei,
        "Harbour Logistics",
        contact_points=[{"kind": "email", "value": "ops@harbour.test"}],
    )
    theirs = await make_party(as_ken, "Harbour Foods")

    assert await hits(as_mei, "harbour") == [
        {
            "title": "Harbour Logistics",
            "url": f"/t/acme/parties/{mine['id']}",
            "module": "core",
            "kind": "party",
        }
    ]
    assert [h["title"] for h in await hits(as_mei, "ops@harbour.test")] == ["Harbour Logistics"]
    assert [h["title"] for h in await hits(as_ken, "harbour")] == ["Harbour Foods"]
    assert [h["title"] for h in await hits(owner, "harbour")] == [
        "Harbour Foods",
        "Harbour Logistics",
    ]

    page = await as_mei.get("/t/acme/search", params={"q": "harbour"}, headers=HTML)
    assert page.status_code == 200
    assert f'<a href="/t/acme/parties/{mine["id"]}">Harbour Logistics</a>' in page.text
    assert theirs["id"] not in page.text
    assert "Harbour Foods" not in page.text
    assert '<h2 id="search-kind-party">Customers and suppliers</h2>' in page.text
    # The link leads to a page the member may open.
    assert (await as_mei.get(f"/t/acme/parties/{mine['id']}", headers=HTML)).status_code == 200


async def test_a_product_is_found_by_sku_and_grouped_apart_from_parties(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        piece = await catalogue.create_unit(session, "pcs", "Piece", "unit")
        bolt = await catalogue.create_product(
            session, sku="BOLT-M8", name="Hex bolt M8", uom_id=piece.id, barcode="4006381333931"
        )
    await make_party(owner, "Bolt Brothers Hardware")

    found = await hits(owner, "bolt-m8")
    assert found == [
        {
            "title": "Hex bolt M8 (BOLT-M8)",
            "url": f"/t/acme/products/{bolt.id}",
            "module": "core",
            "kind": "product",
        }
    ]
    assert [h["kind"] for h in await hits(owner, "4006381333931")] == ["product"]
    listed = await owner.get(found[0]["url"], headers=HTML)
    assert listed.status_code == 200
    assert "BOLT-M8" in listed.text

    page = await owner.get("/t/acme/search", params={"q": "bolt"}, headers=HTML)
    assert page.status_code == 200
    parties_at = page.text.index('<h2 id="search-kind-party">Customers and suppliers</h2>')
    products_at = page.text.index('<h2 id="search-kind-product">Products</h2>')
    assert page.text.index("Bolt Brothers Hardware") < products_at
    assert parties_at < products_at < page.text.index("Hex bolt M8 (BOLT-M8)")
    chinese = await owner.get("/t/acme/search", params={"q": "bolt", "lang": "zh-CN"})
    assert '<h2 id="search-kind-party">客户与供应商</h2>' in chinese.text
    assert '<h2 id="search-kind-product">产品</h2>' in chinese.text


async def test_a_token_without_party_rights_finds_products_only(
    db: Database,
    registry: ModuleRegistry,
    acme: TenantContext,
    owner: httpx.AsyncClient,
    live: str,
) -> None:
    await make_party(owner, "Anchor Supplies")
    async with db.tenant_transaction(acme.tenant_id) as session:
        piece = await catalogue.create_unit(session, "pcs", "Piece", "unit")
        await catalogue.create_product(session, sku="ANCHOR-1", name="Anchor", uom_id=piece.id)
        me = await the_test_owner(db)
        member = await session.scalar(select(Membership).where(Membership.user_id == me.id))
        assert member is not None
        granted = await roles.member_rights(session, registry, member)
        actor = Actor(
            tenant_id=acme.tenant_id,
            user_id=me.id,
            membership_id=member.id,
            permissions=granted.permissions,
            scopes=granted.scopes,
        )
        plaintext, _token = await api_tokens.create(
            session, actor, name="catalogue", permissions=["core.product.read"]
        )
    async with httpx.AsyncClient(base_url=live) as anonymous:
        found = await hits(anonymous, "anchor", authorization=f"Bearer {plaintext}")
    assert [(h["title"], h["kind"]) for h in found] == [("Anchor (ANCHOR-1)", "product")]
    assert {h["kind"] for h in await hits(owner, "anchor")} == {"party", "product"}


async def test_another_workspaces_party_never_appears(
    make_tenant, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    await make_tenant("beta")  # the test owner owns both workspaces
    theirs = await make_party(owner, "Zephyr Trading", slug="beta")
    assert await hits(owner, "zephyr") == []
    page = await owner.get("/t/acme/search", params={"q": "zephyr"}, headers=HTML)
    assert "Zephyr Trading" not in page.text
    assert theirs["id"] not in page.text
    assert "Nothing found." in page.text
    assert [h["url"] for h in await hits(owner, "zephyr", slug="beta")] == [
        f"/t/beta/parties/{theirs['id']}"
    ]


async def test_a_disabled_module_contributes_nothing(
    db: Database, registry: ModuleRegistry, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        await NoteService(session).create("Quarterly plan")
    await make_party(owner, "Quarterdeck Marine")
    assert {h["module"] for h in await hits(owner, "quarter")} == {"core", "sample"}

    async with db.tenant_transaction(acme.tenant_id) as session:
        await tenants.disable_module(session, registry, acme, "sample")
    found = await hits(owner, "quarter")
    assert [(h["title"], h["module"]) for h in found] == [("Quarterdeck Marine", "core")]
    page = await owner.get("/t/acme/search", params={"q": "quarterly"}, headers=HTML)
    assert "Quarterly plan" not in page.text
    assert "Nothing found." in page.text


async def test_an_empty_query_finds_nothing_and_says_what_to_try(
    owner: httpx.AsyncClient,
) -> None:
    await make_party(owner, "Anything Ltd")
    for blank in ("", "   "):
        assert await hits(owner, blank) == []
    page = await owner.get("/t/acme/search", headers=HTML)
    assert page.status_code == 200
    assert "<h2" not in page.text.split('id="search-results"', 1)[1]
    assert "Type a name, tax number, e-mail address, phone number, SKU or barcode" in page.text
    missing = await owner.get("/t/acme/search", params={"q": "no such thing"}, headers=HTML)
    assert "Nothing found." in missing.text
    assert "Try part of a name" in missing.text
