"""An owner or admin decides a contract's approval on the contract's page (or the API) under
core's default rule: approved or back to draft at once, the comment on the timeline, the
decision's event later changing nothing; a salesperson may not decide, nor may anyone
decide a contract that is not waiting."""

from __future__ import annotations

import httpx
import pytest

from core import roles
from core.db import Database
from core.errors import Conflict, PermissionDenied
from modules.crm.services import contracts
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_contracts import (
    customer,
    draft,
    drain,
    history,
    published,
    status_of,
    submit,
)
from tests.modules.crm.test_contracts_pages import PAGES, opened, owner_browser, send

API = "/api/t/acme/crm"


async def test_an_admin_approves_or_rejects_at_once_and_the_event_changes_nothing(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    boss = await floor.member("Boss", role=roles.ADMIN)
    party_id = await customer(floor, wei)
    first, second = await draft(floor, wei, party_id), await draft(floor, wei, party_id)
    for made in (first, second):
        await submit(floor, wei, made.id)
    async with floor.session() as session:
        pending = await contracts.get_contract(session, boss, first.id)
        assert await contracts.may_decide(session, boss, pending)
        assert not await contracts.may_decide(session, wei, pending)
        await contracts.decide_approval(session, boss, first.id, approve=True, comment=" Fine. ")
        await contracts.decide_approval(
            session, boss, second.id, approve=False, comment="Discount too deep"
        )
    assert [await status_of(floor, first.id), await status_of(floor, second.id)] == [
        "approved",
        "draft",
    ]
    await drain(floor)  # the decisions' events arrive: already applied
    assert len(await published(floor, "crm.contract_approved.v1")) == 1
    assert (await history(floor, first.id))[-2:] == [
        ("change", [("status", "Pending approval", "Approved")]),
        ("comment", "Fine."),
    ]
    assert (await history(floor, second.id))[-1] == ("comment", "Discount too deep")
    async with floor.session() as session:
        with pytest.raises(Conflict):  # decided already: nothing waits any more
            await contracts.decide_approval(session, boss, first.id, approve=False, comment="")


async def test_a_salesperson_does_not_decide_their_own_contract(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    made = await draft(floor, wei, party_id)
    await submit(floor, wei, made.id)
    async with floor.session() as session:
        with pytest.raises(PermissionDenied):
            await contracts.decide_approval(session, wei, made.id, approve=True, comment="")
    assert await status_of(floor, made.id) == "pending_approval"


async def test_the_owner_decides_on_the_page_and_over_the_api(
    db: Database, floor: SalesFloor, browser: Browser, client: httpx.AsyncClient
) -> None:
    owner = await owner_browser(db, browser)
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    on_page, over_api = await draft(floor, wei, party_id), await draft(floor, wei, party_id)
    here = f"{PAGES}/contracts/{on_page.id}"
    draft_page = await opened(owner, here)
    assert 'id="decide-form"' not in draft_page.text  # nothing to decide on a draft
    for made in (on_page, over_api):
        await submit(floor, wei, made.id)
    assert 'id="decide-form"' in (await opened(owner, here)).text

    unknown = await send(owner, here, f"{here}/decide", approve="maybe", comment="Hm")
    assert unknown.status_code == 422
    assert "Choose to approve or to reject." in unknown.text
    assert "Hm" in unknown.text  # the comment typed is kept
    decided = await send(owner, here, f"{here}/decide", approve="1", comment="OK")
    assert decided.status_code == 303
    assert await status_of(floor, on_page.id) == "approved"

    answer = await client.post(
        f"{API}/contracts/{over_api.id}/decide", json={"approve": False, "comment": "Too deep"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "draft"
