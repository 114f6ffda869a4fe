"""Parties over real HTTP: the JSON API and the pages, with permissions, data scopes
(own, department tree, all), API tokens, duplicates, bad input and two workspaces.

Each person is their own browser: a session cookie signed in for that user,
against the real app on a loopback port.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator

import httpx
import openpyxl
import pytest
from sqlalchemy import select

from core import organisation, roles
from core.context import TenantContext
from core.db import Database
from core.identity import api_tokens
from core.models import Membership, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from tests.conftest import TEST_OWNER_EMAIL, Browser

HTML = {"accept": "text/html"}
HTMX = {**HTML, "hx-request": "true"}


@pytest.fixture
async def anonymous(live: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live) as http:
        yield http


async def user(db: Database, name: str) -> User:
    async with db.global_transaction() as session:
        row = User(email=f"{name.lower()}.{uuid.uuid4().hex[:6]}@parties.test", display_name=name)
        session.add(row)
        return row


async def the_test_owner(db: Database) -> User:
    async with db.global_transaction() as session:
        owner = await session.scalar(select(User).where(User.email == TEST_OWNER_EMAIL))
        assert owner is not None
        return owner


async def join(
    db: Database, tenant: TenantContext, who: User, role: str = roles.MEMBER
) -> Membership:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        member = Membership(user_id=who.id, role=role)
        session.add(member)
        return member


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme")


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


async def names(http: httpx.AsyncClient, slug: str = "acme", **params) -> list[str]:
    listed = await http.get(f"/api/t/{slug}/parties", params=params)
    assert listed.status_code == 200, listed.text
    return [p["name"] for p in listed.json()["items"]]


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


# --- the list, a party, changes --------------------------------------------------------------


async def test_a_party_is_created_read_listed_and_changed(owner: httpx.AsyncClient) -> None:
    made = await make_party(
        owner,
        "Acme Trading",
        is_customer=True,
        tax_id="91310000ma1k4",
        contact_points=[
            {"kind": "email", "value": "Sales@Acme.test"},
            {"kind": "phone", "value": "+86 138 0013 8000", "label": "mobile"},
        ],
        addresses=[{"line1": "1 Bund Road", "city": "Shanghai", "country": "cn"}],
        tags=["VIP", "East"],
    )
    assert (made["name"], made["tax_id"], made["tags"]) == (
        "Acme Trading",
        "91310000MA1K4",
        ["East", "VIP"],
    )
    assert made["addresses"][0]["country"] == "CN"
    assert {p["kind"]: p["is_primary"] for p in made["contact_points"]} == {
        "email": True,
        "phone": True,
    }
    assert made["owner_id"] is not None
    assert made["merged_into_id"] is None

    read = await owner.get(f"/api/t/acme/parties/{made['id']}")
    assert read.status_code == 200
    assert read.json() == made

    [summary] = (await owner.get("/api/t/acme/parties")).json()["items"]
    assert (summary["id"], summary["email"], summary["phone"], summary["is_customer"]) == (
        made["id"],
        "Sales@Acme.test",
        "+86 138 0013 8000",
        True,
    )

    changed = await owner.patch(
        f"/api/t/acme/parties/{made['id']}",
        json={"name": "Acme Trading Shanghai", "is_supplier": True, "tags": ["VIP"]},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["is_customer"], body["is_supplier"], body["tags"]) == (
        "Acme Trading Shanghai",
        True,
        True,
        ["VIP"],
    )
    assert body["contact_points"] == made["contact_points"]  # left out: kept as they were
    archived = await owner.patch(f"/api/t/acme/parties/{made['id']}", json={"active": False})
    assert archived.json()["active"] is False
    assert await names(owner) == []
    assert await names(owner, include_archived="true") == ["Acme Trading Shanghai"]


async def test_the_list_pages_by_keyset_and_filters(owner: httpx.AsyncClient) -> None:
    for name, role, tags in [
        ("Delta Works", "is_customer", ["VIP"]),
        ("Alpha Supplies", "is_supplier", []),
        ("Charlie Foods", "is_customer", []),
        ("Bravo Metals", "is_supplier", ["VIP"]),
        ("Echo Paper", "is_customer", []),
    ]:
        await make_party(owner, name, **{role: True}, tags=tags)

    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (await owner.get("/api/t/acme/parties", params=params)).json()
        seen += [p["name"] for p in page["items"]]
        after = page["next_cursor"]
        if after is None:
            break
        assert len(page["items"]) == 2
    assert seen == ["Alpha Supplies", "Bravo Metals", "Charlie Foods", "Delta Works", "Echo Paper"]

    assert await names(owner, q="", role="", tag="", after="", limit=10) == seen  # blank: any
    assert await names(owner, role="supplier") == ["Alpha Supplies", "Bravo Metals"]
    assert await names(owner, tag="VIP") == ["Bravo Metals", "Delta Works"]
    assert await names(owner, q="foods") == ["Charlie Foods"]
    assert await names(owner, q="metal", role="customer") == []


# --- data scopes -----------------------------------------------------------------------------


async def test_a_member_sees_lists_and_exports_only_their_own_parties(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    mei, ken = await user(db, "Mei"), await user(db, "Ken")
    await join(db, acme, mei)
    await join(db, acme, ken)
    as_mei, as_ken = await browser(mei), await browser(ken)
    mine = await make_party(
        as_mei, "Mei's Customer", contact_points=[{"kind": "email", "value": "buyer@meis.test"}]
    )
    theirs = await make_party(as_ken, "Ken's Customer")
    await make_party(owner, "Owner's Customer")

    assert mine["owner_id"] == str(mei.id)
    assert await names(as_mei) == ["Mei's Customer"]
    assert await names(as_ken) == ["Ken's Customer"]
    assert await names(owner) == ["Ken's Customer", "Mei's Customer", "Owner's Customer"]

    hidden = await as_mei.get(f"/api/t/acme/parties/{theirs['id']}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    refused = await as_mei.patch(f"/api/t/acme/parties/{theirs['id']}", json={"name": "Mine now"})
    assert refused.status_code == 404
    assert (await owner.get(f"/api/t/acme/parties/{theirs['id']}")).json()["name"] == (
        "Ken's Customer"
    )

    exported = await as_mei.get("/api/t/acme/parties/export", params={"format": "csv"})
    assert exported.status_code == 200, exported.text
    assert "attachment" in exported.headers["content-disposition"]
    rows = csv_rows(exported)
    assert [(r["Name"], r["E-mail"], r["Type"]) for r in rows] == [
        ("Mei's Customer", "buyer@meis.test", "Company")
    ]
    everything = csv_rows(await owner.get("/api/t/acme/parties/export"))
    assert len(everything) == 3

    # The pages apply the same scope.
    page = await as_mei.get("/t/acme/parties", headers=HTML)
    assert page.status_code == 200
    assert "Mei&#39;s Customer" in page.text
    assert "Ken&#39;s Customer" not in page.text
    assert (await as_mei.get(f"/t/acme/parties/{theirs['id']}", headers=HTML)).status_code == 404


async def test_a_department_tree_role_sees_its_department_and_those_below(
    db: Database,
    registry: ModuleRegistry,
    acme: TenantContext,
    owner: httpx.AsyncClient,
    browser: Browser,
) -> None:
    dora, eli = await user(db, "Dora"), await user(db, "Eli")
    dora_member = await join(db, acme, dora)
    await join(db, acme, eli)
    async with db.tenant_transaction(acme.tenant_id) as session:
        sales = await organisation.create_department(session, "Sales")
        east = await organisation.create_department(session, "Sales East", sales.id)
        support = await organisation.create_department(session, "Support")
        manager = await roles.create_role(
            session,
            registry,
            name="Sales manager",
            permissions=["core.party.read", "core.party.write"],
            scopes={"core.party": "department_tree"},
        )
        await roles.set_member_roles(
            session, dora_member.id, base_role=roles.MEMBER, role_ids=[manager.id]
        )
        await organisation.place_member(session, dora_member.id, department_id=sales.id)
    for name, department in [
        ("Sales Account", sales.id),
        ("East Account", east.id),
        ("Support Account", support.id),
    ]:
        await make_party(owner, name, owner_id=str(eli.id), department_id=str(department))
    as_dora = await browser(dora)
    own = await make_party(as_dora, "Dora's Own", department_id=None)

    assert own["department_id"] is None
    assert await names(as_dora) == ["Dora's Own", "East Account", "Sales Account"]
    support_account = (await owner.get("/api/t/acme/parties", params={"q": "support"})).json()
    hidden_id = support_account["items"][0]["id"]
    assert (await as_dora.get(f"/api/t/acme/parties/{hidden_id}")).status_code == 404
    exported = csv_rows(await as_dora.get("/api/t/acme/parties/export"))
    assert [r["Name"] for r in exported] == ["Dora's Own", "East Account", "Sales Account"]
    # Eli owns all three but, with the member role alone, sees only what he owns.
    assert await names(await browser(eli)) == ["East Account", "Sales Account", "Support Account"]


async def test_an_admin_sees_every_party(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    mei, ada = await user(db, "Mei"), await user(db, "Ada")
    await join(db, acme, mei)
    await join(db, acme, ada, roles.ADMIN)
    await make_party(await browser(mei), "Mei's Customer")
    await make_party(owner, "Owner's Customer")
    as_ada = await browser(ada)
    assert await names(as_ada) == ["Mei's Customer", "Owner's Customer"]
    assert len(csv_rows(await as_ada.get("/api/t/acme/parties/export"))) == 2


# --- permissions -------------------------------------------------------------------------------


async def test_merging_needs_core_party_merge(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    mei = await user(db, "Mei")
    await join(db, acme, mei)
    as_mei = await browser(mei)
    keep = await make_party(
        as_mei, "Acme Trading", contact_points=[{"kind": "email", "value": "a@acme.test"}]
    )
    merge = await make_party(as_mei, "Acme Trading Company", allow_duplicates=True, tags=["VIP"])

    refused = await as_mei.post(f"/api/t/acme/parties/{merge['id']}/merge-into/{keep['id']}")
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["permission"] == "core.party.merge"
    assert "core.party.merge" in error["message"]
    assert await names(as_mei) == ["Acme Trading", "Acme Trading Company"]

    merged = await owner.post(f"/api/t/acme/parties/{merge['id']}/merge-into/{keep['id']}")
    assert merged.status_code == 200, merged.text
    assert (merged.json()["id"], merged.json()["tags"]) == (keep["id"], ["VIP"])
    assert await names(as_mei) == ["Acme Trading"]
    gone = (await owner.get(f"/api/t/acme/parties/{merge['id']}")).json()
    assert (gone["merged_into_id"], gone["active"]) == (keep["id"], False)
    again = await owner.post(f"/api/t/acme/parties/{merge['id']}/merge-into/{keep['id']}")
    assert again.status_code == 409


async def test_a_token_limited_to_reading_lists_but_cannot_write(
    db: Database,
    registry: ModuleRegistry,
    acme: TenantContext,
    owner: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
) -> None:
    await make_party(owner, "Acme Trading")
    async with db.tenant_transaction(acme.tenant_id) as session:
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
            session, actor, name="reporting", permissions=["core.party.read"]
        )
    bearer = {"authorization": f"Bearer {plaintext}"}

    listed = await anonymous.get("/api/t/acme/parties", headers=bearer)
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["items"]] == ["Acme Trading"]
    refused = await anonymous.post(
        "/api/t/acme/parties", json={"kind": "company", "name": "Beta"}, headers=bearer
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["permission"] == "core.party.write"
    assert (await anonymous.get("/api/t/acme/products", headers=bearer)).status_code == 403
    assert (await anonymous.get("/api/t/acme/parties")).status_code == 401
    assert await names(owner) == ["Acme Trading"]


# --- duplicates --------------------------------------------------------------------------------


async def test_a_duplicate_is_refused_with_its_candidate_until_confirmed(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    first = await make_party(
        owner, "Acme Trading", contact_points=[{"kind": "email", "value": "sales@acme.test"}]
    )
    again = {"kind": "company", "name": "ACME Trading Co., Ltd."}

    refused = await owner.post("/api/t/acme/parties", json=again)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "duplicate_suspected"
    assert error["message"] == "This looks like a party that already exists."
    assert error["candidates"] == [
        {"party_id": first["id"], "name": "Acme Trading", "reasons": ["name"]}
    ]
    assert await names(owner) == ["Acme Trading"]

    offered = await owner.get(
        "/api/t/acme/parties/duplicates",
        params={"name": "Acme Trading Ltd", "email": "SALES@acme.test"},
    )
    assert offered.status_code == 200
    assert offered.json() == [
        {
            "party_id": first["id"],
            "name": "Acme Trading",
            "reasons": ["email", "email_domain", "name"],
        }
    ]

    confirmed = await owner.post("/api/t/acme/parties", json={**again, "allow_duplicates": True})
    assert confirmed.status_code == 201
    assert await names(owner) == ["ACME Trading Co., Ltd.", "Acme Trading"]

    # A change that makes a duplicate is refused the same way.
    other = await make_party(owner, "Bravo Metals")
    renamed = await owner.patch(f"/api/t/acme/parties/{other['id']}", json={"name": "Acme Trading"})
    assert renamed.status_code == 409
    assert {c["party_id"] for c in renamed.json()["error"]["candidates"]} == {
        first["id"],
        confirmed.json()["id"],
    }
    assert (await owner.get(f"/api/t/acme/parties/{other['id']}")).json()["name"] == "Bravo Metals"

    # A member learns that a duplicate exists, not whose it is.
    mei = await user(db, "Mei")
    await join(db, acme, mei)
    hidden = await (await browser(mei)).post(
        "/api/t/acme/parties", json={"kind": "company", "name": "Bravo Metals"}
    )
    assert hidden.status_code == 409
    assert hidden.json()["error"]["candidates"] == [
        {"party_id": other["id"], "name": None, "reasons": ["name"]}
    ]


# --- bad input ---------------------------------------------------------------------------------


async def test_bad_input_is_a_4xx_json_answer_and_never_a_500(owner: httpx.AsyncClient) -> None:
    party = await make_party(owner, "Acme Trading")
    domain_refusals = {
        "blank name": await owner.post(
            "/api/t/acme/parties", json={"kind": "company", "name": "   "}
        ),
        "bad e-mail": await owner.post(
            "/api/t/acme/parties",
            json={
                "kind": "company",
                "name": "Beta",
                "contact_points": [{"kind": "email", "value": "not an address"}],
            },
        ),
        "bad country": await owner.post(
            "/api/t/acme/parties",
            json={"kind": "company", "name": "Beta", "addresses": [{"line1": "x", "country": "X"}]},
        ),
        "company at a company": await owner.post(
            "/api/t/acme/parties",
            json={"kind": "company", "name": "Beta", "company_id": party["id"]},
        ),
        "unknown role filter": await owner.get("/api/t/acme/parties", params={"role": "boss"}),
        "unknown kind filter": await owner.get("/api/t/acme/parties", params={"kind": "robot"}),
        "forged cursor": await owner.get("/api/t/acme/parties", params={"after": "bm90IGpzb24"}),
        "unknown export format": await owner.get(
            "/api/t/acme/parties/export", params={"format": "pdf"}
        ),
        "merge into itself": await owner.post(
            f"/api/t/acme/parties/{party['id']}/merge-into/{party['id']}"
        ),
        "blank new name": await owner.patch(
            f"/api/t/acme/parties/{party['id']}", json={"name": ""}
        ),
        "a NUL character": await owner.post(
            "/api/t/acme/parties", json={"kind": "company", "name": "Be\u0000ta"}
        ),
        "a NUL in the search": await owner.get("/api/t/acme/parties", params={"q": "a\x00b"}),
        "a phone too long": await owner.post(
            "/api/t/acme/parties",
            json={
                "kind": "company",
                "name": "Gamma",
                "contact_points": [{"kind": "phone", "value": "1" + " " * 400 + "2"}],
            },
        ),
    }
    for what, answer in domain_refusals.items():
        assert answer.status_code == 422, (what, answer.text)
        assert answer.json()["error"]["code"] == "validation_failed", what
    assert domain_refusals["blank name"].json()["error"]["message"] == (
        "A party's name has 1 to 200 characters."
    )

    shape_refusals = {
        "unknown kind": await owner.post(
            "/api/t/acme/parties", json={"kind": "robot", "name": "Beta"}
        ),
        "no name": await owner.post("/api/t/acme/parties", json={"kind": "company"}),
        "not json": await owner.post(
            "/api/t/acme/parties",
            content=b"{oops",
            headers={"content-type": "application/json"},
        ),
        "name not a string": await owner.patch(
            f"/api/t/acme/parties/{party['id']}", json={"name": 42}
        ),
        "limit not a number": await owner.get("/api/t/acme/parties", params={"limit": "many"}),
    }
    for what, answer in shape_refusals.items():
        assert answer.status_code == 400, (what, answer.text)
        assert answer.json()["error"]["code"] == "bad_request", what

    unknown = await owner.get(f"/api/t/acme/parties/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert await names(owner) == ["Acme Trading"]


# --- two workspaces ----------------------------------------------------------------------------


async def test_two_workspaces_never_see_each_others_parties(
    db: Database, make_tenant, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    other = await make_tenant("other")
    ours = await make_party(owner, "Acme Trading", tags=["VIP"])
    theirs = await make_party(owner, "Other Trading", slug="other")

    assert await names(owner) == ["Acme Trading"]
    assert await names(owner, slug="other") == ["Other Trading"]
    assert await names(owner, slug="other", tag="VIP") == []
    for answer in (
        await owner.get(f"/api/t/other/parties/{ours['id']}"),
        await owner.patch(f"/api/t/other/parties/{ours['id']}", json={"name": "Taken"}),
        await owner.post(f"/api/t/other/parties/{ours['id']}/merge-into/{theirs['id']}"),
        await owner.get(f"/t/other/parties/{ours['id']}", headers=HTML),
    ):
        assert answer.status_code == 404
    # A duplicate in another workspace is no duplicate here.
    assert (
        await owner.post("/api/t/other/parties", json={"kind": "company", "name": "Acme Trading"})
    ).status_code == 201
    assert len(csv_rows(await owner.get("/api/t/other/parties/export"))) == 2

    mei = await user(db, "Mei")
    await join(db, other, mei)
    as_mei = await browser(mei)
    assert (await as_mei.get("/api/t/acme/parties")).status_code == 404


# --- pages -------------------------------------------------------------------------------------


async def test_the_list_page_searches_and_loads_more_rows_with_htmx(
    owner: httpx.AsyncClient,
) -> None:
    for number in range(55):
        await make_party(owner, f"Customer {number:02}", allow_duplicates=True)
    page = await owner.get("/t/acme/parties", headers=HTML)
    assert page.status_code == 200
    assert "<html" in page.text
    assert "Customer 00" in page.text
    assert "Customer 49" in page.text
    assert "Customer 50" not in page.text
    more = page.text.split('id="more-parties"')[1].split('hx-get="')[1].split('"')[0]
    more = more.replace("&amp;", "&")
    rows = await owner.get(more, headers=HTMX)
    assert rows.status_code == 200
    assert "<html" not in rows.text  # only the rows, for htmx to put in place of the link
    assert "Customer 50" in rows.text
    assert "Customer 54" in rows.text
    assert "Customer 49" not in rows.text
    assert 'id="more-parties"' not in rows.text  # the end of the list

    found = await owner.get("/t/acme/parties", params={"q": "customer 07"}, headers=HTML)
    assert "Customer 07" in found.text
    assert "Customer 08" not in found.text
    nothing = await owner.get("/t/acme/parties", params={"q": "nobody"}, headers=HTML)
    assert "No party matches." in nothing.text


async def test_a_party_page_shows_its_details(owner: httpx.AsyncClient) -> None:
    employer = await make_party(owner, "Acme Trading", is_customer=True)
    person = await make_party(
        owner,
        "Li Wei",
        kind="person",
        company_id=employer["id"],
        contact_points=[{"kind": "phone", "value": "+86 138 0013 8000"}],
        addresses=[{"line1": "1 Bund Road", "city": "Shanghai"}],
        tags=["VIP"],
        notes="Prefers WeChat.",
    )
    page = await owner.get(f"/t/acme/parties/{person['id']}", headers=HTML)
    assert page.status_code == 200
    for shown in (
        "Li Wei",
        "Person",
        f'href="/t/acme/parties/{employer["id"]}">Acme Trading</a>',
        "+86 138 0013 8000",
        "1 Bund Road, Shanghai",
        "Prefers WeChat.",
        "Test Owner",
        'href="/t/acme/parties?tag=VIP"',
    ):
        assert shown in page.text, shown


async def test_the_form_shows_suspected_duplicates_and_asks_before_creating(
    owner: httpx.AsyncClient,
) -> None:
    first = await make_party(owner, "Acme Trading")
    form = await owner.get("/t/acme/parties/new", headers=HTML)
    assert form.status_code == 200
    token = form.text.split('name="_csrf_token" value="')[1].split('"')[0]

    typed = await owner.get(
        "/t/acme/parties/duplicates",
        params={"kind": "company", "name": "acme trading"},
        headers=HTMX,
    )
    assert typed.status_code == 200
    assert f'id="duplicate-{first["id"]}"' in typed.text
    assert "same name" in typed.text
    half_typed = await owner.get(
        "/t/acme/parties/duplicates", params={"email": "sales@"}, headers=HTMX
    )
    assert half_typed.status_code == 200
    assert "duplicate-notice" not in half_typed.text

    fields = {"_csrf_token": token, "kind": "company", "name": "ACME Trading", "is_customer": "on"}
    asked = await owner.post("/t/acme/parties/new", data=fields, headers=HTML)
    assert asked.status_code == 409
    assert "This looks like a party that already exists." in asked.text
    assert f'id="duplicate-{first["id"]}"' in asked.text
    assert 'id="create-anyway"' in asked.text
    assert 'value="ACME Trading"' in asked.text  # what was typed is kept

    blank = await owner.post("/t/acme/parties/new", data={**fields, "name": " "}, headers=HTML)
    assert blank.status_code == 422
    assert "A party's name has 1 to 200 characters." in blank.text

    created = await owner.post(
        "/t/acme/parties/new", data={**fields, "allow_duplicates": "1"}, headers=HTML
    )
    assert created.status_code == 303
    location = created.headers["location"]
    assert location.startswith("/t/acme/parties/")
    shown = await owner.get(location, headers=HTML)
    assert "ACME Trading" in shown.text
    assert "Customer" in shown.text
    assert await names(owner) == ["ACME Trading", "Acme Trading"]


async def test_the_export_comes_as_csv_or_excel(owner: httpx.AsyncClient) -> None:
    await make_party(owner, "Acme Trading", is_customer=True, is_supplier=True)
    await make_party(owner, "Bravo Metals", is_customer=True)
    exported = await owner.get("/api/t/acme/parties/export", params={"format": "xlsx"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="parties.xlsx"' in exported.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:3] == ["Type", "Name", "Role"]
    assert [row[:3] for row in values[1:]] == [
        ["Company", "Acme Trading", "Both"],
        ["Company", "Bravo Metals", "Customer"],
    ]
    rows = csv_rows(await owner.get("/api/t/acme/parties/export", params={"role": "supplier"}))
    assert [(r["Name"], r["Role"]) for r in rows] == [("Acme Trading", "Both")]
