"""Two people editing the same opportunity: the second is told, and nothing is lost
silently. Each change bumps the opportunity's version; a change made on an older version
is refused (409) — in the service, the edit page (what the other person saved is shown
beside the kept typing, and saving again is a deliberate choice) and the API."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from core import roles
from core.db import Database
from core.errors import Conflict
from modules.crm.schemas.sales import OpportunityChanges
from modules.crm.services import opportunities
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_opportunities import customer, deal, stages
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf


@pytest.fixture
async def owner(db: Database, floor: SalesFloor, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def test_every_change_bumps_the_version_and_a_stale_change_is_refused(
    floor: SalesFloor,
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    made = await deal(floor, admin, await customer(floor, admin), amount=Decimal("100"))
    assert made.version == 1
    async with floor.session() as session:
        changed = await opportunities.update_opportunity(
            session, admin, made.id, OpportunityChanges(version=1, name="Tea for two years")
        )
        await session.flush()
        assert changed.version == 2
    async with floor.session() as session:
        moved = await opportunities.move_opportunity(
            session, admin, made.id, (await stages(floor))["Needs confirmed"].id
        )
        await session.flush()
        assert moved.opportunity.version == 3
    async with floor.session() as session:
        with pytest.raises(Conflict) as refused:
            await opportunities.update_opportunity(
                session, admin, made.id, OpportunityChanges(version=2, name="Stale name")
            )
        assert refused.value.params["version"] == 3
    async with floor.session() as session:
        kept = await opportunities.get_opportunity(session, admin, made.id)
        assert (kept.name, kept.version) == ("Tea for two years", 3)


async def test_two_people_saving_the_same_version_at_once_one_is_told(floor: SalesFloor) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    made = await deal(floor, admin, await customer(floor, admin))

    async def rename(name: str) -> str:
        async with floor.session() as session:
            try:
                await opportunities.update_opportunity(
                    session, admin, made.id, OpportunityChanges(version=1, name=name)
                )
            except Conflict:  # the other one held the row lock and saved first
                return "told"
            return name

    outcomes = await asyncio.gather(rename("First"), rename("Second"))
    assert outcomes.count("told") == 1
    saved = next(o for o in outcomes if o != "told")
    async with floor.session() as session:
        kept = await opportunities.get_opportunity(session, admin, made.id)
        assert (kept.name, kept.version) == (saved, 2)


async def test_the_edit_page_shows_the_other_change_and_keeps_the_typing(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    made = await deal(floor, admin, await customer(floor, admin), amount=Decimal("100"))
    here = f"/t/acme/crm/opportunities/{made.id}/edit"
    opened = await owner.get(here, headers=HTML)
    assert 'name="version" value="1"' in opened.text
    token = csrf(opened)
    # Someone else saves first, from the copy they opened at the same time.
    async with floor.session() as session:
        await opportunities.update_opportunity(
            session, admin, made.id, OpportunityChanges(version=1, amount=Decimal("250"))
        )
    mine = {
        "_csrf_token": token,
        "version": "1",
        "name": "Tea for the year, renamed",
        "amount": "120",
        "expected_close_on": "",
        "contact_id": "",
        "owner_id": str(admin.user_id),
    }
    told = await owner.post(here, data=mine, headers=HTML)
    assert told.status_code == 409
    assert "Someone else changed this opportunity after you opened it" in told.text
    assert 'value="Tea for the year, renamed"' in told.text  # the typing is kept
    assert 'value="120"' in told.text
    saved_now = told.text.split('id="saved-now"')[1].split("</dl>")[0]
    assert "Amount: 250.00" in saved_now
    assert "Name: Tea for the year" in saved_now
    assert 'name="version" value="2"' in told.text  # saving again is now deliberate
    async with floor.session() as session:
        kept = await opportunities.get_opportunity(session, admin, made.id)
        assert (kept.name, kept.amount) == ("Tea for the year", Decimal("250.00"))

    again = await owner.post(here, data={**mine, "version": "2"}, headers=HTML)
    assert again.status_code == 303
    async with floor.session() as session:
        kept = await opportunities.get_opportunity(session, admin, made.id)
        assert (kept.name, kept.amount, kept.version) == (
            "Tea for the year, renamed",
            Decimal("120.00"),
            3,
        )


async def test_the_api_answers_409_to_a_stale_version(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    made = await deal(floor, admin, await customer(floor, admin))
    url = f"/api/t/acme/crm/opportunities/{made.id}"
    read = (await owner.get(url)).json()
    assert read["version"] == 1
    first = await owner.patch(url, json={"version": 1, "name": "Renamed once"})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    stale = await owner.patch(url, json={"version": 1, "name": "Renamed on a stale copy"})
    assert stale.status_code == 409
    assert (stale.json()["error"]["code"], stale.json()["error"]["version"]) == ("conflict", 2)
    assert (await owner.get(url)).json()["name"] == "Renamed once"
