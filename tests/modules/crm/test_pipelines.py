"""Pipelines as the tenant sets them up: a new one with a stage of each kind, one default
(also when two people change it at once), archiving, stages added, renamed, reordered,
their probability and kind checked, a stage holding opportunities kept; the settings page
and the JSON API; two workspaces."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from core import roles
from core.db import Database
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from modules.crm.models import Pipeline, Stage
from modules.crm.services import pipelines
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_opportunities import customer, deal, stages
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf


async def test_a_new_pipeline_starts_with_a_stage_of_each_kind(floor: SalesFloor) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    async with floor.session() as session:
        made = await pipelines.create_pipeline(session, admin, " Renewals ")
        found = (await pipelines.stages_of(session, [made.id]))[made.id]
        assert made.name == "Renewals"
        assert [(s.name, s.probability, s.kind) for s in found] == [
            ("New", Decimal("10.00"), "open"),
            ("Won", Decimal("100.00"), "won"),
            ("Lost", Decimal("0.00"), "lost"),
        ]
        assert [p.name for p in await pipelines.pipelines(session)] == ["Sales", "Renewals"]
        with pytest.raises(Conflict) as taken:
            await pipelines.create_pipeline(session, admin, "renewals".title())
        assert taken.value.params["field"] == "name"
        with pytest.raises(ValidationFailed):
            await pipelines.create_pipeline(session, admin, "")
    wei = await floor.member("Wei")
    async with floor.session() as session:
        with pytest.raises(PermissionDenied):  # a Member sets up nothing
            await pipelines.create_pipeline(session, wei, "Projects")


async def test_there_is_always_one_default_pipeline(floor: SalesFloor) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    async with floor.session() as session:
        sales = await pipelines.default_pipeline(session)
        assert sales is not None
        renewals = await pipelines.create_pipeline(session, admin, "Renewals")
        projects = await pipelines.create_pipeline(session, admin, "Projects", is_default=True)
    async with floor.session() as session:
        assert (await pipelines.default_pipeline(session)).id == projects.id
        with pytest.raises(Conflict):
            await pipelines.update_pipeline(session, admin, projects.id, is_default=False)
        with pytest.raises(Conflict):
            await pipelines.update_pipeline(session, admin, projects.id, active=False)
        with pytest.raises(Conflict):
            await pipelines.delete_pipeline(session, admin, projects.id)

    async def make_default(pipeline_id) -> None:
        async with floor.session() as session:
            await pipelines.update_pipeline(session, admin, pipeline_id, is_default=True)

    await asyncio.gather(make_default(sales.id), make_default(renewals.id))
    async with floor.session() as session:
        defaults = await session.scalar(
            select(func.count()).select_from(Pipeline).where(Pipeline.is_default)
        )
        assert defaults == 1


async def test_archiving_and_deleting_a_pipeline(floor: SalesFloor) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    async with floor.session() as session:
        busy = await pipelines.create_pipeline(session, admin, "Renewals")
        empty = await pipelines.create_pipeline(session, admin, "Projects")
    await deal(floor, admin, party, pipeline_id=busy.id)
    async with floor.session() as session:
        with pytest.raises(Conflict) as refused:
            await pipelines.delete_pipeline(session, admin, busy.id)
        assert "archive it instead" in str(refused.value)
        await pipelines.update_pipeline(session, admin, busy.id, active=False)
        await pipelines.delete_pipeline(session, admin, empty.id)
        assert [p.name for p in await pipelines.pipelines(session)] == ["Sales"]
        with pytest.raises(Conflict):  # an archived pipeline cannot become the default
            await pipelines.update_pipeline(session, admin, busy.id, is_default=True)
    with pytest.raises(ValidationFailed):  # and takes no new opportunities
        await deal(floor, admin, party, pipeline_id=busy.id)


async def test_stages_are_added_changed_reordered_and_kept_while_they_hold_deals(
    floor: SalesFloor,
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    named = await stages(floor)
    sales = named["open"].pipeline_id
    async with floor.session() as session:
        demo = await pipelines.add_stage(
            session, admin, sales, name="Demo", probability=Decimal("40.5")
        )
        assert (demo.sequence, demo.kind) == (7, "open")
        for probability in (Decimal("-1"), Decimal("100.01"), Decimal("1.234")):
            with pytest.raises(ValidationFailed) as refused:
                await pipelines.add_stage(
                    session, admin, sales, name="Odd", probability=probability
                )
            assert refused.value.params["field"] == "probability"
        with pytest.raises(ValidationFailed):
            await pipelines.add_stage(
                session, admin, sales, name="Odd", probability=Decimal(5), kind="maybe"
            )
        with pytest.raises(Conflict):
            await pipelines.add_stage(session, admin, sales, name="Demo", probability=Decimal(1))
        await pipelines.move_stage(session, admin, demo.id, -1)
        await pipelines.update_stage(
            session, admin, demo.id, name="Product demo", probability=Decimal(45)
        )
        order = [s.name for s in (await pipelines.stages_of(session, [sales]))[sales]]
        assert order[-3:] == ["Won", "Product demo", "Lost"]
        with pytest.raises(ValidationFailed):
            await pipelines.reorder_stages(session, admin, sales, [demo.id])

    held = await deal(floor, admin, party)  # in "Initial contact"
    async with floor.session() as session:
        with pytest.raises(Conflict) as refused:
            await pipelines.delete_stage(session, admin, held.stage_id)
        assert str(refused.value) == (
            "The stage Initial contact holds 1 opportunities, so it cannot be deleted: "
            "move them to another stage first."
        )
        with pytest.raises(Conflict):
            await pipelines.update_stage(session, admin, held.stage_id, kind="won")
        with pytest.raises(Conflict):  # the only lost stage
            await pipelines.delete_stage(session, admin, named["lost"].id)
        with pytest.raises(Conflict):  # ... nor can it become another kind
            await pipelines.update_stage(session, admin, named["lost"].id, kind="open")
        await pipelines.delete_stage(session, admin, demo.id)
        assert await session.scalar(select(func.count()).select_from(Stage)) == 6


async def test_another_workspace_sees_none_of_it(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    async with floor.session() as session:
        made = await pipelines.create_pipeline(session, admin, "Renewals")
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        assert [p.name for p in await pipelines.pipelines(session)] == ["Sales"]
        with pytest.raises(NotFound):
            await pipelines.update_pipeline(session, stranger, made.id, name="Mine")
        with pytest.raises(NotFound):
            await pipelines.delete_pipeline(session, stranger, made.id)


# --- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
async def owner(db: Database, floor: SalesFloor, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def test_the_api_lists_and_changes_pipelines(owner: httpx.AsyncClient) -> None:
    listed = (await owner.get("/api/t/acme/crm/pipelines")).json()
    assert [(p["name"], p["is_default"]) for p in listed] == [("Sales", True)]
    sales = listed[0]
    assert [s["probability"] for s in sales["stages"]] == [
        "10.00",
        "30.00",
        "50.00",
        "80.00",
        "100.00",
        "0.00",
    ]
    made = await owner.post("/api/t/acme/crm/pipelines", json={"name": "Renewals"})
    assert made.status_code == 201, made.text
    renewals = made.json()
    added = await owner.post(
        f"/api/t/acme/crm/pipelines/{renewals['id']}/stages",
        json={"name": "Offer", "probability": "60", "kind": "open"},
    )
    assert added.status_code == 201, added.text
    offer = added.json()["stages"][-1]
    order = [offer["id"], *(s["id"] for s in renewals["stages"])]
    moved = await owner.put(
        f"/api/t/acme/crm/pipelines/{renewals['id']}/stage-order", json={"stage_ids": order}
    )
    assert [s["name"] for s in moved.json()["stages"]] == ["Offer", "New", "Won", "Lost"]
    changed = await owner.patch(
        f"/api/t/acme/crm/pipelines/{renewals['id']}/stages/{offer['id']}",
        json={"probability": 65},
    )
    assert changed.json()["stages"][0]["probability"] == "65.00"
    wrong = await owner.patch(
        f"/api/t/acme/crm/pipelines/{sales['id']}/stages/{offer['id']}", json={"name": "X"}
    )
    assert wrong.status_code == 404  # a stage of another pipeline
    made_default = await owner.patch(
        f"/api/t/acme/crm/pipelines/{renewals['id']}", json={"is_default": True}
    )
    assert made_default.json()["is_default"] is True
    last_won = renewals["stages"][1]["id"]
    refused = await owner.delete(f"/api/t/acme/crm/pipelines/{renewals['id']}/stages/{last_won}")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "A pipeline needs at least one won stage."


async def test_the_settings_page_changes_stages_and_says_why_it_refuses(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    held = await deal(floor, admin, party)
    page = await owner.get("/t/acme/crm/settings/pipelines", headers=HTML)
    assert page.status_code == 200
    assert "Initial contact" in page.text
    token = csrf(page)
    base = "/t/acme/crm/settings/pipelines"
    sales = held.pipeline_id

    renamed = await owner.post(
        f"{base}/{sales}/stages/{held.stage_id}",
        data={"_csrf_token": token, "name": "First call", "probability": "15", "kind": "open"},
        headers=HTML,
    )
    assert renamed.status_code == 303
    page = await owner.get(f"{base}?notice=saved", headers=HTML)
    assert "First call" in page.text
    bad = await owner.post(
        f"{base}/{sales}/stages",
        data={"_csrf_token": token, "name": "Odd", "probability": "abc", "kind": "open"},
        headers=HTML,
    )
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text
    assert 'value="abc"' in bad.text
    kept = await owner.post(
        f"{base}/{sales}/stages/{held.stage_id}/delete", data={"_csrf_token": token}, headers=HTML
    )
    assert kept.status_code == 409
    assert "holds 1 opportunities, so it cannot be deleted" in kept.text
    made = await owner.post(base, data={"_csrf_token": token, "name": "Renewals"}, headers=HTML)
    assert made.status_code == 303
    assert "Renewals" in (await owner.get(base, headers=HTML)).text
