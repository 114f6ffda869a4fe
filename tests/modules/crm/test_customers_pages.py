"""The customer pages, the pool pages and the JSON API over real HTTP: the customer page
shows everything about the customer (contacts, follow-ups, its CRM records linking to
their pages, the party's attachments and timeline, other modules' panels), CRM's panel
on core's party page, the forms' refusals beside their inputs with the typing kept, the
pool's claim and rules, scopes for a salesperson, and another workspace's customer."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from core.db import Database
from core.models import Membership, User
from modules.crm.models import Contract, Payment, Ticket
from modules.crm.services.opportunities import NewOpportunity, create_opportunity
from modules.crm.views import customers as customer_views
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.web import test_every_form as every_form
from tests.web.test_parties_api import HTML, HTMX, the_test_owner
from tests.web.test_recovery_pages import csrf

API = "/api/t/acme/crm"
PAGES = "/t/acme/crm"


@pytest.fixture
async def owner(db: Database, floor: SalesFloor, browser: Browser) -> httpx.AsyncClient:
    """The workspace owner's browser (the test owner owns every test workspace)."""
    return await browser(await the_test_owner(db))


async def browser_of(db: Database, browser: Browser, user_id: uuid.UUID) -> httpx.AsyncClient:
    async with db.global_transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None
    return await browser(user)


async def made(http: httpx.AsyncClient, name: str, **fields) -> dict:
    answer = await http.post(f"{API}/customers", json={"name": name, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def token_of(http: httpx.AsyncClient, url: str) -> str:
    page = await http.get(url, headers=HTML)
    assert page.status_code == 200, page.text
    return csrf(page)


def beside(page: httpx.Response, form: str, field: str) -> str:
    """The message shown beside ``field`` of ``form``, which the input points at."""
    assert f'aria-describedby="{form}-{field}-error"' in page.text, page.text[:3000]
    return page.text.split(f'id="{form}-{field}-error">')[1].split("</p>")[0]


async def test_the_customer_page_shows_everything_about_the_customer(
    floor: SalesFloor, owner: httpx.AsyncClient
) -> None:
    customer = await made(
        owner, "Shenzhen Drones", level="A", industry="Electronics", tags=["Key"], source="lead"
    )
    url = f"{PAGES}/customers/{customer['id']}"
    contact = await owner.post(
        f"{API}/customers/{customer['id']}/contacts",
        json={"name": "Huang Lei", "email": "huang@drones.example"},
    )
    assert contact.status_code == 201, contact.text
    followed = await owner.post(
        f"{API}/customers/{customer['id']}/follow-ups",
        json={"kind": "meeting", "content": "Demo of the new range", "next_on": "2030-01-15"},
    )
    assert followed.status_code == 201, followed.text
    async with floor.session() as session:
        owner_actor = await floor.actor(
            await _membership_of(floor, customer["owner_id"])  # the test owner's membership
        )
        deal = await create_opportunity(
            session,
            owner_actor,
            NewOpportunity(name="Fleet order", party_id=uuid.UUID(customer["id"])),
        )
        contract = Contract(
            number="CT-9",
            title="Fleet contract",
            party_id=uuid.UUID(customer["id"]),
            amount=Decimal("88000"),
            currency="CNY",
            owner_id=owner_actor.user_id,
        )
        ticket = Ticket(
            number="TK-9",
            party_id=uuid.UUID(customer["id"]),
            subject="Propeller cracked",
            sla_due_at=datetime(2026, 6, 1, 12, tzinfo=UTC),
            owner_id=owner_actor.user_id,
        )
        session.add_all([contract, ticket])
        await session.flush()
        session.add(
            Payment(contract_id=contract.id, amount=Decimal("8000"), received_on=date(2026, 5, 4))
        )

    page = await owner.get(url, headers=HTML, params={"lang": "en"})
    assert page.status_code == 200, page.text
    for expected in (
        "<h1>Shenzhen Drones</h1>",
        '<td id="customer-stage">Prospect</td>',
        '<td id="customer-level">A: key account</td>',
        '<td id="customer-source">Converted lead</td>',
        '<td id="customer-industry">Electronics</td>',
        '<td id="customer-tags">Key</td>',
        "Huang Lei",
        "huang@drones.example",
        "Demo of the new range",
        f'href="/t/acme/crm/opportunities/{deal.id}"',
        deal.number,
        "No quote yet",
        f'href="/t/acme/crm/contracts/{contract.id}">CT-9</a>',
        "CN¥88,000.00",
        "CN¥8,000.00",
        f'href="/t/acme/crm/tickets/{ticket.id}">TK-9</a>',
        "Propeller cracked",
        'id="record-attachments"',
        'id="record-timeline"',
        "Follow up with Shenzhen Drones",  # the reminder, planned on the party's timeline
        'id="follow-up-form"',
        'id="contact-form"',
        'id="transfer-form"',
        f'href="{url}/release"',
    ):
        assert expected in page.text, expected
    assert 'id="crm-party-panel"' not in page.text  # CRM's own panel is for core's page

    party_page = await owner.get(f"/t/acme/parties/{customer['id']}", headers=HTML)
    assert party_page.status_code == 200
    assert 'id="crm-party-panel"' in party_page.text
    assert f'href="{url}" id="crm-customer-link"' in party_page.text

    listed = await owner.get(f"{PAGES}/customers", headers=HTML, params={"level": "A"})
    assert f'<a href="{url}">Shenzhen Drones</a>' in listed.text
    empty = await owner.get(f"{PAGES}/customers", headers=HTML, params={"level": "C"})
    assert 'id="no-customers"' in empty.text


async def _membership_of(floor: SalesFloor, user_id: str) -> uuid.UUID:
    async with floor.session() as session:
        found = await session.scalar(
            select(Membership.id).where(Membership.user_id == uuid.UUID(user_id))
        )
        assert found is not None
        return found


async def test_the_forms_refuse_beside_their_input_and_keep_what_was_typed(
    floor: SalesFloor, owner: httpx.AsyncClient
) -> None:
    token = await token_of(owner, f"{PAGES}/customers/new")
    refused = await owner.post(
        f"{PAGES}/customers/new",
        data={
            "_csrf_token": token,
            "kind": "company",
            "name": " ",
            "industry": "Toys",
            "lifecycle_stage": "prospect",
            "source": "manual",
            "email": "nope",
        },
        headers=HTML,
    )
    assert refused.status_code == 422
    assert "name has 1 to 200 characters" in beside(refused, "customer", "name")
    assert 'value="Toys"' in refused.text
    created = await owner.post(
        f"{PAGES}/customers/new",
        data={
            "_csrf_token": token,
            "kind": "company",
            "name": "Toy Town",
            "industry": "Toys",
            "lifecycle_stage": "prospect",
            "source": "manual",
            "level": "B",
        },
        headers=HTML,
    )
    assert created.status_code == 303
    url = created.headers["location"]
    again = await owner.post(
        f"{PAGES}/customers/new",
        data={
            "_csrf_token": token,
            "kind": "company",
            "name": "Toy Town Ltd",
            "lifecycle_stage": "prospect",
            "source": "manual",
        },
        headers=HTML,
    )
    assert again.status_code == 409
    assert 'id="create-anyway"' in again.text
    assert "Toy Town" in again.text

    # The follow-up form: with htmx its section comes back, refusal or not.
    partial = await owner.post(
        f"{url}/follow-ups",
        data={
            "_csrf_token": token,
            "kind": "call",
            "content": "Asked for a catalogue",
            "next_on": "2026-13-45",
        },
        headers=HTMX,
    )
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<section class="card" id="crm-follow-ups">')
    assert "is not a date" in beside(partial, "follow-up", "next_on")
    assert "Asked for a catalogue" in partial.text
    plain = await owner.post(
        f"{url}/follow-ups",
        data={"_csrf_token": token, "kind": "call", "content": ""},
        headers=HTML,
    )
    assert plain.status_code == 422
    assert "Say what was talked about" in beside(plain, "follow-up", "content")
    recorded = await owner.post(
        f"{url}/follow-ups",
        data={
            "_csrf_token": token,
            "kind": "visit",
            "content": "Visited the shop",
            "happened_at": "2026-01-05T10:30",
        },
        headers=HTML,
    )
    assert recorded.status_code == 303
    assert recorded.headers["location"] == f"{url}?notice=recorded"
    shown = await owner.get(f"{url}?notice=recorded&lang=en", headers=HTML)
    assert "The follow-up is recorded." in shown.text
    assert "Visited the shop" in shown.text

    contact = await owner.post(
        f"{url}/contacts",
        data={"_csrf_token": token, "name": "Ma Li", "phone": "12", "email": "", "notes": ""},
        headers=HTMX,
    )
    assert "is not a phone number" in beside(contact, "contact", "phone")
    assert 'value="Ma Li"' in contact.text
    contact = await owner.post(
        f"{url}/contacts",
        data={"_csrf_token": token, "name": "Ma Li", "phone": "+86 10 5555 0100"},
        headers=HTMX,
    )
    assert contact.status_code == 200
    assert 'id="contact-list"' in contact.text

    edited = await owner.post(
        f"{url}/edit",
        data={
            "_csrf_token": token,
            "name": "Toy Town",
            "tags": "East, Retail",
            "industry": "x" * 101,
            "lifecycle_stage": "customer",
            "level": "A",
            "source": "manual",
        },
        headers=HTML,
    )
    assert edited.status_code == 422
    assert "at most 100 characters" in beside(edited, "customer", "industry")
    assert 'value="East, Retail"' in edited.text
    edited = await owner.post(
        f"{url}/edit",
        data={
            "_csrf_token": token,
            "name": "Toy Town",
            "tags": "East, Retail",
            "industry": "Toys",
            "lifecycle_stage": "customer",
            "level": "A",
            "source": "manual",
        },
        headers=HTML,
    )
    assert edited.status_code == 303
    page = await owner.get(url, headers=HTML, params={"lang": "en"})
    assert '<td id="customer-tags">East, Retail</td>' in page.text
    assert '<td id="customer-stage">Customer</td>' in page.text

    transfer = await owner.post(
        f"{url}/transfer", data={"_csrf_token": token, "owner_id": ""}, headers=HTML
    )
    assert transfer.status_code == 422
    assert "Choose the new owner." in beside(transfer, "transfer", "owner_id")

    release_page = await owner.get(f"{url}/release", headers=HTML)
    assert release_page.status_code == 200
    assert 'id="release-form"' in release_page.text
    blank = await owner.post(
        f"{url}/release", data={"_csrf_token": token, "reason": ""}, headers=HTML
    )
    assert blank.status_code == 422
    assert "Say why it goes back" in beside(blank, "release", "reason")
    released = await owner.post(
        f"{url}/release", data={"_csrf_token": token, "reason": "Closing the shop"}, headers=HTML
    )
    assert released.status_code == 303
    assert released.headers["location"] == f"{url}?notice=released"  # the owner sees all

    pool_page = await owner.get(f"{PAGES}/pool", headers=HTML, params={"lang": "en"})
    assert "Toy Town" in pool_page.text
    assert "Released: Closing the shop" in pool_page.text
    party_id = url.rsplit("/", 1)[1]
    claimed = await owner.post(
        f"{PAGES}/pool/{party_id}/claim", data={"_csrf_token": token}, headers=HTML
    )
    assert claimed.status_code == 303
    assert claimed.headers["location"] == f"{url}?notice=claimed"
    gone = await owner.post(
        f"{PAGES}/pool/{party_id}/claim", data={"_csrf_token": token}, headers=HTML
    )
    assert gone.status_code == 409
    assert "no longer in the public pool" in gone.text


async def test_the_pool_rules_page(floor: SalesFloor, owner: httpx.AsyncClient) -> None:
    url = f"{PAGES}/settings/pool"
    token = await token_of(owner, url)
    bad = await owner.post(
        url,
        data={
            "_csrf_token": token,
            "no_follow_up_days": "abc",
            "no_deal_days": "",
            "notice_days": "3",
            "claim_limit": "40",
        },
        headers=HTML,
    )
    assert bad.status_code == 422
    assert "whole number" in beside(bad, "pool", "no_follow_up_days")
    assert 'value="abc"' in bad.text
    good = await owner.post(
        url,
        data={
            "_csrf_token": token,
            "no_follow_up_days": "14",
            "no_deal_days": "",
            "notice_days": "2",
            "claim_limit": "40",
        },
        headers=HTML,
    )
    assert good.status_code == 303
    rules = (await owner.get(f"{API}/settings/pool")).json()
    assert rules == {
        "no_follow_up_days": 14,
        "no_deal_days": None,
        "notice_days": 2,
        "claim_limit": 40,
    }


async def test_a_salesperson_sees_their_own_and_the_pool_but_not_the_rules(
    db: Database, floor: SalesFloor, owner: httpx.AsyncClient, browser: Browser
) -> None:
    wei = await floor.member("Wei")
    as_wei = await browser_of(db, browser, wei.user_id)
    others = await made(owner, "Owner's customer")
    mine = await made(as_wei, "Wei's customer")
    assert mine["owner_id"] == str(wei.user_id)

    listed = await as_wei.get(f"{PAGES}/customers", headers=HTML)
    assert "Wei&#39;s customer" in listed.text
    assert "Owner&#39;s customer" not in listed.text
    assert (await as_wei.get(f"{PAGES}/customers/{others['id']}", headers=HTML)).status_code == 404
    assert (await as_wei.get(f"{API}/customers/{others['id']}")).status_code == 404
    assert (await as_wei.get(f"{PAGES}/pool", headers=HTML)).status_code == 200
    assert (await as_wei.get(f"{PAGES}/settings/pool", headers=HTML)).status_code == 403
    assert (await as_wei.get(f"{API}/settings/pool")).status_code == 403

    # CRM's panel on core's party page follows the CRM scope.
    async with floor.session() as session:
        as_wei_ctx = dataclasses.replace(floor.ctx, user_id=wei.user_id)
        panels = await customer_views.party_panels(
            as_wei_ctx, session, wei, "core.party", uuid.UUID(mine["id"])
        )
        assert [p.title for p in panels] == ["CRM customer"]
        assert (
            await customer_views.party_panels(
                as_wei_ctx, session, wei, "core.party", uuid.UUID(others["id"])
            )
            == []
        )
        assert (
            await customer_views.party_panels(
                as_wei_ctx, session, wei, "core.user", uuid.UUID(mine["id"])
            )
            == []
        )


async def test_the_api_covers_customers_contacts_follow_ups_and_the_pool(
    db: Database, floor: SalesFloor, owner: httpx.AsyncClient, browser: Browser
) -> None:
    customer = await made(owner, "Api Co", email="hello@api.example")
    path = f"{API}/customers/{customer['id']}"
    duplicate = await owner.post(f"{API}/customers", json={"name": "Api Co Ltd"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["candidates"][0]["name"] == "Api Co"
    assert (
        await owner.post(f"{API}/customers", json={"name": "Api Co Ltd", "allow_duplicates": True})
    ).status_code == 201

    changed = await owner.patch(path, json={"lifecycle_stage": "customer", "level": "B"})
    assert changed.status_code == 200
    assert (changed.json()["lifecycle_stage"], changed.json()["level"]) == ("customer", "B")
    bad = await owner.patch(path, json={"level": "Z"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "level"

    contact = (await owner.post(f"{path}/contacts", json={"name": "Sun Wu"})).json()
    patched = await owner.patch(f"{path}/contacts/{contact['id']}", json={"phone": "+1 555 0100"})
    assert patched.json()["phone"] == "+1 555 0100"
    assert [c["name"] for c in (await owner.get(f"{path}/contacts")).json()] == ["Sun Wu"]

    happened = datetime(2026, 2, 1, 9, tzinfo=UTC).isoformat()
    follow_up = await owner.post(
        f"{path}/follow-ups",
        json={
            "kind": "email",
            "content": "Sent terms",
            "happened_at": happened,
            "contact_id": contact["id"],
        },
    )
    assert follow_up.status_code == 201, follow_up.text
    assert follow_up.json()["contact_name"] == "Sun Wu"
    listed = (await owner.get(f"{path}/follow-ups")).json()
    assert [f["content"] for f in listed] == ["Sent terms"]

    wei = await floor.member("Wei")
    transferred = await owner.post(f"{path}/transfer", json={"owner_id": str(wei.user_id)})
    assert transferred.status_code == 200
    assert transferred.json()["owner_id"] == str(wei.user_id)
    as_wei = await browser_of(db, browser, wei.user_id)
    assert (await as_wei.get(path)).json()["name"] == "Api Co"

    released = await as_wei.post(
        f"{API}/pool/{customer['id']}/release", json={"reason": "Not for me"}
    )
    assert released.status_code == 200
    assert released.json()["in_pool"] is True
    assert (await as_wei.get(path)).status_code == 404
    pooled = (await as_wei.get(f"{API}/pool")).json()["items"]
    assert [c["name"] for c in pooled] == ["Api Co"]
    claimed = await as_wei.post(f"{API}/pool/{customer['id']}/claim")
    assert claimed.status_code == 200
    assert (claimed.json()["owned"], claimed.json()["claim_limit"]) == (1, 50)
    assert (await as_wei.post(f"{API}/pool/{customer['id']}/claim")).status_code == 409

    put = await owner.put(
        f"{API}/settings/pool",
        json={"no_follow_up_days": None, "no_deal_days": 60, "notice_days": 0, "claim_limit": 5},
    )
    assert put.status_code == 200
    assert put.json()["no_deal_days"] == 60
    worse = await owner.put(
        f"{API}/settings/pool",
        json={"no_follow_up_days": 0, "no_deal_days": 60, "notice_days": 0, "claim_limit": 5},
    )
    assert worse.status_code == 422


async def test_another_workspaces_customer_is_not_found(
    db: Database, floor: SalesFloor, other_floor: SalesFloor, owner: httpx.AsyncClient
) -> None:
    customer = await made(owner, "Acme's own")
    for url in (
        f"/t/bolt/crm/customers/{customer['id']}",
        f"/api/t/bolt/crm/customers/{customer['id']}",
        f"/api/t/bolt/crm/customers/{customer['id']}/follow-ups",
    ):
        answer = await owner.get(url, headers=HTML)
        assert answer.status_code == 404, url
    assert (await owner.post(f"/api/t/bolt/crm/pool/{customer['id']}/claim")).status_code == 404
    assert (await owner.get("/api/t/bolt/crm/customers")).json()["items"] == []


async def test_every_customer_and_pool_form_refuses_bad_input_with_the_typing_kept(
    floor: SalesFloor, owner: httpx.AsyncClient
) -> None:
    """The sweep of tests/web/test_every_form.py over these pages (that one walks a
    workspace without CRM): 100,000 characters, every input empty, malformed values."""
    customer = await made(owner, "Sweep Co")
    contact = await owner.post(
        f"{API}/customers/{customer['id']}/contacts", json={"name": "Sweep Person"}
    )
    assert contact.status_code == 201
    url = f"{PAGES}/customers/{customer['id']}"
    starts = [
        url,
        f"{PAGES}/customers",
        f"{PAGES}/customers/new",
        f"{url}/release",
        f"{url}/contacts/{contact.json()['id']}/edit",
        f"{PAGES}/pool",
        f"{PAGES}/settings/pool",
    ]
    mine = ("/crm/customers", "/crm/pool", "/crm/settings/pool")
    forms = [
        form
        for form in await every_form.walk(owner, starts, pages=len(starts))
        if any(part in form.action for part in mine)
    ]
    actions = {form.pattern.split(" ")[0] for form in forms}
    assert actions >= {
        "/t/acme/crm/customers/new",
        "/t/acme/crm/customers/{id}/edit",
        "/t/acme/crm/customers/{id}/follow-ups",
        "/t/acme/crm/customers/{id}/contacts",
        "/t/acme/crm/customers/{id}/contacts/{id}/edit",
        "/t/acme/crm/customers/{id}/release",
        "/t/acme/crm/settings/pool",
    }, actions
    assert not (problems := await every_form.refusals(owner, forms)), "\n".join(problems)
