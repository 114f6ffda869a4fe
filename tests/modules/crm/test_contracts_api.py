"""The contracts, payments, tickets and targets JSON API over real HTTP: the whole flow from
a draft to a paid contract, tickets and targets, bad input as 4xx JSON, a Member's 403 on
what Members may not do, and another workspace's records as 404."""

from __future__ import annotations

from decimal import Decimal

import httpx

from core import approvals, roles
from core.db import Database
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.web.test_parties_api import join, make_party, user

API = "/api/t/acme/crm"


async def made(answer: httpx.Response, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    return answer.json()


async def test_a_contract_goes_from_draft_to_paid_over_the_api(
    client: httpx.AsyncClient, floor: SalesFloor
) -> None:
    async with floor.session() as session:
        await approvals.set_policy(session, Decimal("1000000"), kind="crm.contract")
    party = await make_party(client, "Hangzhou Tea Co.", is_customer=True)
    contract = await made(
        await client.post(
            f"{API}/contracts",
            json={"title": "Tea supply", "party_id": party["id"], "amount": "3000.00"},
        ),
        201,
    )
    assert (contract["status"], contract["amount"], contract["installments"]) == (
        "draft",
        "3000.00",
        [],
    )
    url = f"{API}/contracts/{contract['id']}"
    changed = await made(await client.patch(url, json={"title": "Tea supply 2026"}))
    assert (changed["title"], changed["amount"]) == ("Tea supply 2026", "3000.00")
    refused = await client.put(
        f"{url}/installments", json={"installments": [{"due_on": "2026-01-10", "amount": "1"}]}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "plan"
    planned = await made(
        await client.post(
            f"{url}/installments/split", json={"count": 3, "first_due_on": "2026-01-10"}
        )
    )
    assert [(i["due_on"], i["amount"]) for i in planned["installments"]] == [
        ("2026-01-10", "1000.00"),
        ("2026-02-10", "1000.00"),
        ("2026-03-10", "1000.00"),
    ]
    assert (await made(await client.post(f"{url}/submit")))["status"] == "approved"
    signed = await made(await client.post(f"{url}/sign", json={"signed_on": "2026-01-05"}))
    assert (signed["status"], signed["base_amount"]) == ("signed", "3000.00")
    first, second, third = signed["installments"]
    assert first["days_late"] > 0  # due in January: it is later than that now
    overdue = await made(await client.get(f"{API}/payments/overdue"))
    assert [o["sequence"] for o in overdue] == [1, 2, 3]
    too_much = await client.post(
        f"{API}/payments",
        json={"installment_id": first["id"], "amount": "1000.01", "received_on": "2026-01-20"},
    )
    assert too_much.status_code == 422
    assert too_much.json()["error"]["field"] == "amount"
    for installment in (first, second, third):
        await made(
            await client.post(
                f"{API}/payments",
                json={
                    "installment_id": installment["id"],
                    "amount": "1000.00",
                    "received_on": "2026-01-20",
                    "method": "bank_transfer",
                    "reference": "slip 7",
                },
            ),
            201,
        )
    done = await made(await client.get(url))
    assert (done["status"], done["received"]) == ("completed", "3000.00")
    listed = await made(await client.get(f"{API}/payments", params={"contract_id": done["id"]}))
    assert [p["reference"] for p in listed["items"]] == ["slip 7"] * 3
    page = await made(await client.get(f"{API}/contracts", params={"q": "tea"}))
    assert [c["customer_name"] for c in page["items"]] == ["Hangzhou Tea Co."]
    assert (await client.post(f"{url}/terminate", json={"reason": "late"})).status_code == 409


async def test_tickets_and_targets_over_the_api(
    client: httpx.AsyncClient, floor: SalesFloor
) -> None:
    party = await make_party(client, "Kettle Buyer Ltd", is_customer=True)
    ticket = await made(
        await client.post(
            f"{API}/tickets",
            json={"party_id": party["id"], "subject": "Leaks", "priority": "urgent"},
        ),
        201,
    )
    assert (ticket["status"], ticket["priority"], ticket["overdue"]) == ("open", "urgent", False)
    url = f"{API}/tickets/{ticket['id']}"
    assert (await made(await client.post(f"{url}/start")))["status"] == "in_progress"
    assert (await client.post(f"{url}/close")).status_code == 409
    changed = await made(await client.patch(url, json={"priority": "low"}))
    assert changed["priority"] == "low"
    assert (await made(await client.post(f"{url}/resolve")))["resolved_at"] is not None
    listed = await made(await client.get(f"{API}/tickets", params={"status": "resolved"}))
    assert [t["number"] for t in listed["items"]] == [ticket["number"]]
    assert (await made(await client.get(f"{API}/tickets", params={"overdue": "true"})))[
        "items"
    ] == []

    owner_id = ticket["assignee_id"]
    saved = await made(
        await client.put(
            f"{API}/targets", json={"month": "2026-03-15", "amount": "5000", "user_id": owner_id}
        )
    )
    assert (saved["month"], saved["amount"]) == ("2026-03-01", "5000.00")
    year = await made(await client.get(f"{API}/targets", params={"year": 2026}))
    assert year["currency"] == "USD"
    [holder] = year["holders"]
    assert (holder["kind"], holder["months"][2]["target"]) == ("user", "5000.00")
    bad = await client.put(f"{API}/targets", json={"month": "2026-03-01", "amount": "5"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "holder"


async def test_bad_input_is_a_4xx_json_answer(client: httpx.AsyncClient, floor: SalesFloor) -> None:
    party = await make_party(client, "Some Co.", is_customer=True)
    for body in (
        {"title": "", "party_id": party["id"], "amount": "1"},
        {"title": "T", "party_id": party["id"], "amount": "-1"},
        {"title": "T", "party_id": party["id"], "amount": "abc"},
        {"title": "T", "party_id": party["id"]},
        {"title": "T", "amount": "1"},
        {"title": "T" * 201, "party_id": party["id"], "amount": "1"},
        {"title": "T", "party_id": "not-an-id", "amount": "1"},
    ):
        answer = await client.post(f"{API}/contracts", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
    ticket = await client.post(
        f"{API}/tickets", json={"party_id": party["id"], "subject": "S", "priority": "asap"}
    )
    assert ticket.status_code == 400
    assert (await client.get(f"{API}/targets", params={"year": 1800})).status_code == 422


async def test_members_lack_payments_and_targets_and_workspaces_stay_apart(
    db: Database,
    client: httpx.AsyncClient,
    floor: SalesFloor,
    other_floor: SalesFloor,
    browser: Browser,
) -> None:
    party = await make_party(client, "Hangzhou Tea Co.", is_customer=True)
    contract = await made(
        await client.post(
            f"{API}/contracts", json={"title": "T", "party_id": party["id"], "amount": "10"}
        ),
        201,
    )
    mia = await user(db, "Mia")
    await join(db, floor.ctx, mia, roles.MEMBER)
    member = await browser(mia)
    assert (await member.get(f"{API}/contracts/{contract['id']}")).status_code == 404  # not hers
    assert (await member.get(f"{API}/contracts")).json()["items"] == []
    for method, path, body in (
        (
            "POST",
            "/payments",
            {"installment_id": contract["id"], "amount": "1", "received_on": "2026-01-01"},
        ),
        ("PUT", "/targets", {"month": "2026-01-01", "amount": "1", "user_id": str(mia.id)}),
    ):
        answer = await member.request(method, f"{API}{path}", json=body)
        assert answer.status_code == 403, answer.text
    other = "/api/t/bolt/crm"
    assert (await client.get(f"{other}/contracts/{contract['id']}")).status_code == 404
    assert (await client.get(f"{other}/contracts")).json()["items"] == []
    assert (await client.post(f"{other}/contracts/{contract['id']}/submit")).status_code == 404
