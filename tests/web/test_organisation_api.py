"""The organisation over real HTTP: the department tree and its moves, positions, where
members sit, with permissions, the audit log, bad input and two workspaces."""

from __future__ import annotations

import uuid

import httpx
import pytest

from core import roles
from core.context import TenantContext
from core.db import Database
from core.models import Membership
from tests.web.test_parties_api import Browser, join, the_test_owner, user

API = "/api/t/acme"


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme")


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def make_department(
    http: httpx.AsyncClient, name: str, parent: dict | None = None, slug: str = "acme"
) -> dict:
    body = {"name": name, "parent_id": parent["id"] if parent else None}
    made = await http.post(f"/api/t/{slug}/departments", json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def tree(http: httpx.AsyncClient, slug: str = "acme") -> list[tuple[str, int]]:
    """The tree as (name, depth), in the order the API gives it."""
    listed = await http.get(f"/api/t/{slug}/departments")
    assert listed.status_code == 200, listed.text
    return [(d["name"], d["depth"]) for d in listed.json()]


async def audited(http: httpx.AsyncClient, action: str | None = None) -> list[dict]:
    """acme's audit log, newest first (only ``action``'s entries when given)."""
    log = await http.get(f"{API}/audit", params={"action": action} if action else {})
    assert log.status_code == 200, log.text
    return log.json()


async def staff(db: Database, acme: TenantContext, *names: str) -> list[Membership]:
    return [await join(db, acme, await user(db, name)) for name in names]


async def test_the_tree_is_read_and_a_department_moves_with_everything_below_it(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    head = await make_department(owner, "Head office")
    sales = await make_department(owner, "Sales", head)
    east = await make_department(owner, "East", sales)
    shanghai = await make_department(owner, "Shanghai", east)
    ops = await make_department(owner, "Operations", head)
    assert (shanghai["parent_id"], shanghai["depth"], shanghai["path"]) == (
        east["id"],
        3,
        [head["id"], sales["id"], east["id"], shanghai["id"]],
    )
    # Depth first, siblings by name.
    assert await tree(owner) == [
        ("Head office", 0),
        ("Operations", 1),
        ("Sales", 1),
        ("East", 2),
        ("Shanghai", 3),
    ]
    [clerk] = await staff(db, acme, "Clerk")
    placed = await owner.put(
        f"{API}/members/{clerk.id}/placement", json={"department_id": shanghai["id"]}
    )
    assert placed.status_code == 200, placed.text

    moved = await owner.patch(f"{API}/departments/{east['id']}", json={"parent_id": ops["id"]})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["parent_id"], moved.json()["path"]) == (
        ops["id"],
        [head["id"], ops["id"], east["id"]],
    )
    assert await tree(owner) == [
        ("Head office", 0),
        ("Operations", 1),
        ("East", 2),
        ("Shanghai", 3),
        ("Sales", 1),
    ]
    read = (await owner.get(f"{API}/departments/{shanghai['id']}")).json()
    assert read["path"] == [head["id"], ops["id"], east["id"], shanghai["id"]]
    assert (read["member_count"], read["deactivated_member_count"]) == (1, 0)

    # Renamed and moved to the top in one change.
    top = await owner.patch(
        f"{API}/departments/{east['id']}", json={"name": "East China", "parent_id": None}
    )
    assert (top.json()["name"], top.json()["parent_id"], top.json()["depth"]) == (
        "East China",
        None,
        0,
    )
    assert await tree(owner) == [
        ("East China", 0),
        ("Shanghai", 1),
        ("Head office", 0),
        ("Operations", 1),
        ("Sales", 1),
    ]
    renamed_only = await owner.patch(f"{API}/departments/{sales['id']}", json={"name": "Sales"})
    assert renamed_only.json()["parent_id"] == head["id"]  # left out: stays where it is

    changes = await audited(owner, "core.department.changed")
    assert [e["detail"] for e in changes] == [
        {
            "before": {"name": "East", "parent_id": ops["id"]},
            "after": {"name": "East China", "parent_id": None},
        },
        {
            "before": {"name": "East", "parent_id": sales["id"]},
            "after": {"name": "East", "parent_id": ops["id"]},
        },
    ]  # newest first; the rename to the same name changed nothing and is not there
    assert {e["subject_id"] for e in changes} == {east["id"]}
    assert len(await audited(owner, "core.department.created")) == 5


async def test_a_move_under_its_own_subtree_is_refused_and_changes_nothing(
    owner: httpx.AsyncClient,
) -> None:
    top = await make_department(owner, "Top")
    below = await make_department(owner, "Below", top)
    deepest = await make_department(owner, "Deepest", below)
    other = await make_department(owner, "Other")
    await make_department(owner, "Below", other)
    before = (await owner.get(f"{API}/departments")).json()
    for target in (top, below, deepest):
        refused = await owner.patch(
            f"{API}/departments/{top['id']}", json={"parent_id": target["id"]}
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "conflict"
        assert "cannot move under itself or one of its own" in refused.json()["error"]["message"]
    # Under Other, Below would meet the Below already there; with a rename in the same
    # change, nothing of it happens.
    clash = await owner.patch(f"{API}/departments/{below['id']}", json={"parent_id": other["id"]})
    assert clash.status_code == 409
    assert clash.json()["error"]["message"] == "There is already a department called Below here."
    renamed_clash = await owner.patch(
        f"{API}/departments/{deepest['id']}", json={"name": "Below", "parent_id": other["id"]}
    )
    assert renamed_clash.status_code == 409
    assert (await owner.get(f"{API}/departments")).json() == before
    assert await audited(owner, "core.department.changed") == []


async def test_only_an_empty_department_is_deleted(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    top = await make_department(owner, "Top")
    child = await make_department(owner, "Child", top)
    refused = await owner.delete(f"{API}/departments/{top['id']}")
    assert refused.status_code == 409
    assert (
        refused.json()["error"]["message"] == "Move the departments and members out of Top first."
    )

    [gone] = await staff(db, acme, "Gone")
    await owner.put(f"{API}/members/{gone.id}/placement", json={"department_id": child["id"]})
    assert (await owner.post(f"{API}/members/{gone.id}/deactivate")).status_code == 200
    read = (await owner.get(f"{API}/departments/{child['id']}")).json()
    assert (read["member_count"], read["deactivated_member_count"]) == (0, 1)
    still = await owner.delete(f"{API}/departments/{child['id']}")
    assert still.status_code == 409
    assert "Child" in still.json()["error"]["message"]

    await owner.put(f"{API}/members/{gone.id}/placement", json={})
    assert (await owner.delete(f"{API}/departments/{child['id']}")).status_code == 204
    assert (await owner.delete(f"{API}/departments/{top['id']}")).status_code == 204
    assert await tree(owner) == []
    assert (await owner.get(f"{API}/departments/{top['id']}")).status_code == 404
    assert (await owner.delete(f"{API}/departments/{top['id']}")).status_code == 404
    deleted = await audited(owner, "core.department.deleted")
    assert [e["detail"]["name"] for e in deleted] == ["Top", "Child"]


async def test_positions_are_created_renamed_counted_and_deleted_when_unheld(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    made = await owner.post(f"{API}/positions", json={"name": "Sales manager"})
    assert made.status_code == 201, made.text
    assert made.json()["member_count"] == 0
    accountant = (await owner.post(f"{API}/positions", json={"name": " Accountant "})).json()
    assert accountant["name"] == "Accountant"
    taken = await owner.post(f"{API}/positions", json={"name": "Sales manager"})
    assert taken.status_code == 409
    assert taken.json()["error"]["message"] == "There is already a position called Sales manager."

    [lead] = await staff(db, acme, "Lead")
    await owner.put(f"{API}/members/{lead.id}/placement", json={"position_id": made.json()["id"]})
    listed = (await owner.get(f"{API}/positions")).json()
    assert [(p["name"], p["member_count"]) for p in listed] == [
        ("Accountant", 0),
        ("Sales manager", 1),
    ]
    renamed = await owner.patch(
        f"{API}/positions/{made.json()['id']}", json={"name": "Head of sales"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["member_count"]) == ("Head of sales", 1)
    clash = await owner.patch(f"{API}/positions/{accountant['id']}", json={"name": "Head of sales"})
    assert clash.status_code == 409

    held = await owner.delete(f"{API}/positions/{made.json()['id']}")
    assert held.status_code == 409
    assert "Head of sales" in held.json()["error"]["message"]
    assert (await owner.delete(f"{API}/positions/{accountant['id']}")).status_code == 204
    assert [p["name"] for p in (await owner.get(f"{API}/positions")).json()] == ["Head of sales"]
    assert (await owner.delete(f"{API}/positions/{accountant['id']}")).status_code == 404
    assert [e["action"] for e in await audited(owner, "core.position.changed")] == [
        "core.position.changed"
    ]


async def test_members_are_placed_and_a_reporting_loop_is_refused(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    boss, lead, clerk = await staff(db, acme, "Boss", "Lead", "Clerk")
    sales = await make_department(owner, "Sales")
    manager = (await owner.post(f"{API}/positions", json={"name": "Manager"})).json()
    placed = await owner.put(
        f"{API}/members/{lead.id}/placement",
        json={
            "department_id": sales["id"],
            "manager_id": str(boss.id),
            "position_id": manager["id"],
        },
    )
    assert placed.status_code == 200, placed.text
    assert placed.json() == {
        "membership_id": str(lead.id),
        "department_id": sales["id"],
        "manager_id": str(boss.id),
        "position_id": manager["id"],
    }
    assert (await owner.get(f"{API}/members/{lead.id}/placement")).json() == placed.json()
    await owner.put(f"{API}/members/{clerk.id}/placement", json={"manager_id": str(lead.id)})
    members = (await owner.get(f"{API}/members", params={"department_id": sales["id"]})).json()
    assert [m["display_name"] for m in members["items"]] == ["Lead"]

    boss_before = (await owner.get(f"{API}/members/{boss.id}/placement")).json()
    for loop in (clerk.id, boss.id):  # the boss under the clerk, or under themselves
        refused = await owner.put(
            f"{API}/members/{boss.id}/placement",
            json={"department_id": sales["id"], "manager_id": str(loop)},
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["message"] == (
            "A member cannot report, directly or not, to themselves."
        )
    assert (await owner.get(f"{API}/members/{boss.id}/placement")).json() == boss_before

    for unknown in (
        {"manager_id": str(uuid.uuid4())},
        {"department_id": str(uuid.uuid4())},
        {"position_id": str(uuid.uuid4())},
    ):
        answer = await owner.put(f"{API}/members/{boss.id}/placement", json=unknown)
        assert answer.status_code == 404, (unknown, answer.text)
    nobody = await owner.put(f"{API}/members/{uuid.uuid4()}/placement", json={})
    assert nobody.status_code == 404
    assert (await owner.get(f"{API}/members/{uuid.uuid4()}/placement")).status_code == 404
    assert (await owner.get(f"{API}/members/{boss.id}/placement")).json() == boss_before

    placements = await audited(owner, "core.member.placed")
    assert [e["subject_id"] for e in placements] == [str(clerk.id), str(lead.id)]
    assert placements[1]["detail"]["after"]["manager_id"] == str(boss.id)


async def test_a_member_reads_the_organisation_but_may_not_change_it(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    sales = await make_department(owner, "Sales")
    position = (await owner.post(f"{API}/positions", json={"name": "Clerk"})).json()
    mei_user = await user(db, "Mei")
    mei = await join(db, acme, mei_user)
    as_mei = await browser(mei_user)
    assert await tree(as_mei) == [("Sales", 0)]
    assert (await as_mei.get(f"{API}/positions")).status_code == 200
    assert (await as_mei.get(f"{API}/members/{mei.id}/placement")).status_code == 200

    for refused in (
        await as_mei.post(f"{API}/departments", json={"name": "Mine"}),
        await as_mei.patch(f"{API}/departments/{sales['id']}", json={"name": "Mine"}),
        await as_mei.delete(f"{API}/departments/{sales['id']}"),
        await as_mei.post(f"{API}/positions", json={"name": "Boss"}),
        await as_mei.patch(f"{API}/positions/{position['id']}", json={"name": "Boss"}),
        await as_mei.delete(f"{API}/positions/{position['id']}"),
        await as_mei.put(f"{API}/members/{mei.id}/placement", json={"department_id": sales["id"]}),
    ):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["permission"] == "core.organisation.manage"
    assert await tree(owner) == [("Sales", 0)]
    assert (await owner.get(f"{API}/members/{mei.id}/placement")).json()["department_id"] is None

    ada = await user(db, "Ada")
    await join(db, acme, ada, roles.ADMIN)  # admins have it without being given it
    as_ada = await browser(ada)
    moved = await as_ada.put(
        f"{API}/members/{mei.id}/placement", json={"department_id": sales["id"]}
    )
    assert moved.status_code == 200
    [entry] = await audited(owner, "core.member.placed")
    assert entry["actor_id"] == str(ada.id)


async def test_another_workspace_s_departments_are_out_of_reach(
    db: Database, make_tenant, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    await make_tenant("other")
    theirs = await make_department(owner, "Theirs", slug="other")
    their_position = (await owner.post("/api/t/other/positions", json={"name": "Theirs"})).json()
    ours = await make_department(owner, "Ours")
    admin_user = await user(db, "Ada")
    ada = await join(db, acme, admin_user, roles.ADMIN)  # an admin of acme only
    as_ada = await browser(admin_user)
    assert await tree(as_ada) == [("Ours", 0)]
    assert (await as_ada.get("/api/t/other/departments")).status_code == 404

    # The owner of both, in acme's address, reaches none of other's rows either.
    for http in (as_ada, owner):
        for answer in (
            await http.get(f"{API}/departments/{theirs['id']}"),
            await http.patch(f"{API}/departments/{theirs['id']}", json={"name": "Taken"}),
            await http.patch(f"{API}/departments/{theirs['id']}", json={"parent_id": ours["id"]}),
            await http.patch(f"{API}/departments/{ours['id']}", json={"parent_id": theirs["id"]}),
            await http.delete(f"{API}/departments/{theirs['id']}"),
            await http.post(f"{API}/departments", json={"name": "X", "parent_id": theirs["id"]}),
            await http.patch(f"{API}/positions/{their_position['id']}", json={"name": "Taken"}),
            await http.put(
                f"{API}/members/{ada.id}/placement", json={"department_id": theirs["id"]}
            ),
            await http.put(
                f"{API}/members/{ada.id}/placement", json={"position_id": their_position["id"]}
            ),
        ):
            assert answer.status_code == 404, answer.text
    assert await tree(owner, "other") == [("Theirs", 0)]
    assert await tree(owner) == [("Ours", 0)]
    assert [p["name"] for p in (await owner.get("/api/t/other/positions")).json()] == ["Theirs"]


async def test_bad_input_is_a_4xx_json_answer_and_writes_nothing(
    owner: httpx.AsyncClient,
) -> None:
    top = await make_department(owner, "Top")
    parent = top
    for level in range(11):  # twelve levels in all: the deepest the tree goes
        parent = await make_department(owner, f"L{level}", parent)
    other = await make_department(owner, "Other")
    await make_department(owner, "Leaf", other)
    before = (await owner.get(f"{API}/departments")).json()
    log_before = await audited(owner)

    refusals = {
        "blank name": (owner.post, "/departments", {"name": "  "}, 422),
        "long name": (owner.post, "/departments", {"name": "x" * 101}, 422),
        "unknown parent": (
            owner.post,
            "/departments",
            {"name": "X", "parent_id": str(uuid.uuid4())},
            404,
        ),
        "too deep": (owner.post, "/departments", {"name": "X", "parent_id": parent["id"]}, 422),
        "moved too deep": (
            owner.patch,
            f"/departments/{other['id']}",
            {"parent_id": parent["id"]},
            422,
        ),
        "blank rename": (owner.patch, f"/departments/{other['id']}", {"name": ""}, 422),
        "parent not an id": (owner.post, "/departments", {"name": "X", "parent_id": "top"}, 400),
        "no name": (owner.post, "/departments", {"parent_id": None}, 400),
        "name not text": (owner.post, "/positions", {"name": 7}, 400),
        "blank position": (owner.post, "/positions", {"name": ""}, 422),
        "placement not an id": (
            owner.put,
            f"/members/{uuid.uuid4()}/placement",
            {"manager_id": 1},
            400,
        ),
    }
    for what, (send, path, body, status) in refusals.items():
        answer = await send(f"{API}{path}", json=body)
        assert answer.status_code == status, (what, answer.text)
        assert set(answer.json()["error"]) >= {"code", "message", "request_id"}, what
    not_json = await owner.patch(
        f"{API}/departments/{other['id']}",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400
    assert (await owner.patch(f"{API}/departments/not-an-id", json={})).status_code == 404
    assert (await owner.get(f"{API}/departments")).json() == before
    assert (await owner.get(f"{API}/positions")).json() == []
    assert await audited(owner) == log_before
