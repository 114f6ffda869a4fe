"""The task pages and API over real HTTP, with CSRF: the form (refusals beside their inputs,
what was typed kept), a task's page with its subtasks and comments on its timeline, the
lists ("My tasks", "Assigned by me") with overdue marked, the board (a move by htmx swaps
the two columns it touched, a refused one says why; without JavaScript the card's form
posts and comes back), a stale edit (409), "Create a task" on a party's page (linked both
ways; a member who cannot read the party gets 404), and the JSON API."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from core.db import Database
from core.models import User
from core.parties import services as parties
from core.parties.schemas import PartyIn
from core.permissions import Actor
from modules.oa.models import Task
from tests.conftest import Browser
from tests.modules.oa.test_tasks import LATER, Office, open_office
from tests.web.test_recovery_pages import csrf

HTML = {"accept": "text/html"}
HTMX = {**HTML, "hx-request": "true"}


@pytest.fixture
async def office(db: Database, make_tenant, registry) -> Office:
    return await open_office(db, make_tenant, registry)


async def open_as(db: Database, browser: Browser, actor: Actor) -> httpx.AsyncClient:
    async with db.global_transaction() as session:
        user = await session.scalar(select(User).where(User.id == actor.user_id))
    assert user is not None
    return await browser(user)


async def submit(
    http: httpx.AsyncClient, page_url: str, action: str, fields: dict
) -> httpx.Response:
    page = await http.get(page_url, headers=HTML)
    assert page.status_code == 200, page.text
    return await http.post(action, data={"_csrf_token": csrf(page), **fields}, headers=HTML)


async def test_the_form_creates_a_task_and_refuses_beside_the_inputs(
    db: Database, office: Office, browser: Browser
) -> None:
    ann = await office.member("Ann")
    bob = await office.member("Bob")
    web = await open_as(db, browser, ann)
    blank = await submit(
        web, "/t/acme/oa/tasks/new", "/t/acme/oa/tasks/new", {"title": " ", "due_on": ""}
    )
    assert blank.status_code == 422
    assert 'id="new-title-error"' in blank.text
    bad_day = await submit(
        web,
        "/t/acme/oa/tasks/new",
        "/t/acme/oa/tasks/new",
        {"title": "Call the bank", "due_on": "2026-13-40"},
    )
    assert bad_day.status_code == 422
    assert 'id="new-due_on-error"' in bad_day.text
    assert 'value="Call the bank"' in bad_day.text  # what was typed is kept
    past = await submit(
        web,
        "/t/acme/oa/tasks/new",
        "/t/acme/oa/tasks/new",
        {"title": "Call the bank", "due_on": (date.today() - timedelta(1)).isoformat()},
    )
    assert past.status_code == 422
    assert 'id="new-due_on-error"' in past.text

    made = await submit(
        web,
        "/t/acme/oa/tasks/new",
        "/t/acme/oa/tasks/new",
        {
            "title": "Call the bank",
            "assignee_id": str(bob.user_id),
            "due_on": LATER.isoformat(),
            "priority": "urgent",
            "description": "About the loan",
        },
    )
    assert made.status_code == 303
    task_url = made.headers["location"]
    page = await web.get(task_url, headers=HTML)
    assert page.status_code == 200
    assert "Call the bank" in page.text
    assert "About the loan" in page.text
    assert 'id="record-timeline"' in page.text  # comments go on the task's own timeline

    bobs = await open_as(db, browser, bob)
    mine = await bobs.get("/t/acme/oa/tasks?view=mine", headers=HTML)
    assert "Call the bank" in mine.text
    by_me = await web.get("/t/acme/oa/tasks?view=created", headers=HTML)
    assert "Call the bank" in by_me.text
    assert "Call the bank" not in (await web.get("/t/acme/oa/tasks?view=mine", headers=HTML)).text


async def test_subtasks_progress_and_comments_on_the_task_page(
    db: Database, office: Office, browser: Browser
) -> None:
    ann = await office.member("Ann")
    web = await open_as(db, browser, ann)
    parent = await office.task(ann, "Move office")
    sub_form = f"/t/acme/oa/tasks/new?parent_id={parent.id}"
    made = await submit(
        web, sub_form, "/t/acme/oa/tasks/new", {"title": "Pack", "parent_id": str(parent.id)}
    )
    assert made.status_code == 303
    page = await web.get(f"/t/acme/oa/tasks/{parent.id}", headers=HTML)
    assert "Pack" in page.text
    assert "0 of 1 done" in page.text

    refused = await submit(
        web,
        f"/t/acme/oa/tasks/{parent.id}",
        f"/t/acme/oa/tasks/{parent.id}/move",
        {"status": "done", "next": f"/t/acme/oa/tasks/{parent.id}"},
    )
    assert refused.status_code == 409
    assert 'id="move-status-error"' in refused.text
    assert "1 of 1 are still open" in refused.text

    said = await submit(
        web,
        f"/t/acme/oa/tasks/{parent.id}",
        f"/t/acme/records/oa.task/{parent.id}/comments",
        {"body": "Boxes arrive Monday", "back": f"/t/acme/oa/tasks/{parent.id}"},
    )
    assert said.status_code == 303
    page = await web.get(f"/t/acme/oa/tasks/{parent.id}", headers=HTML)
    assert "Boxes arrive Monday" in page.text.split('id="record-timeline"')[1]


async def test_the_board_moves_cards_by_htmx_and_without_javascript(
    db: Database, office: Office, browser: Browser
) -> None:
    ann = await office.member("Ann")
    web = await open_as(db, browser, ann)
    made = await office.task(ann, "Order chairs")
    parent = await office.task(ann, "Furnish")
    await office.task(ann, "Pick colours", parent_id=parent.id)
    board = await web.get("/t/acme/oa/tasks/board", headers=HTML)
    assert board.status_code == 200
    assert board.text.count('class="board-column card"') == 4
    assert f'id="card-{made.id}"' in board.text
    assert 'data-stage="in_progress"' in board.text
    assert "Pick colours" not in board.text  # subtasks stay on their parent's page
    token = csrf(board)

    moved = await web.post(
        f"/t/acme/oa/tasks/{made.id}/move",
        data={"_csrf_token": token, "stage_id": "in_progress", "view": "all"},
        headers=HTMX,
    )
    assert moved.status_code == 200
    swapped = re.findall(r'id="status-([a-z_]+)"[^>]*hx-swap-oob="true"', moved.text)
    assert sorted(swapped) == ["in_progress", "todo"]
    assert f'id="card-{made.id}"' in moved.text.split('id="status-in_progress"')[1]

    refused = await web.post(
        f"/t/acme/oa/tasks/{parent.id}/move",
        data={"_csrf_token": token, "stage_id": "done"},
        headers=HTMX,
    )
    assert refused.status_code == 200  # htmx swaps only 2xx answers
    assert 'id="move-error"' in refused.text

    plain = await web.post(
        f"/t/acme/oa/tasks/{made.id}/move",
        data={"_csrf_token": token, "stage_id": "done", "next": "/t/acme/oa/tasks/board"},
        headers=HTML,
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == "/t/acme/oa/tasks/board"
    async with office.session() as session:
        assert (await session.get(Task, (office.ctx.tenant_id, made.id))).status == "done"
    hidden = await office.task(await office.member("Zoe"), "Zoe's own")
    foreign = await web.post(
        f"/t/acme/oa/tasks/{hidden.id}/move",
        data={"_csrf_token": token, "stage_id": "done"},
        headers=HTMX,
    )
    assert foreign.status_code == 404  # not shown in the board's dialog
    no_token = await web.post(
        f"/t/acme/oa/tasks/{made.id}/move", data={"stage_id": "todo"}, headers=HTML
    )
    assert no_token.status_code == 403


async def test_overdue_is_marked_and_a_stale_edit_is_refused(
    db: Database, office: Office, browser: Browser
) -> None:
    ann = await office.member("Ann")
    web = await open_as(db, browser, ann)
    made = await office.task(ann, "File taxes", due_on=LATER)
    async with office.session() as session:
        await session.execute(
            update(Task)
            .where(Task.id == made.id)
            .values(due_on=date.today() - timedelta(days=3))
            .execution_options(synchronize_session=False)
        )
    listed = await web.get("/t/acme/oa/tasks?view=mine&overdue=1", headers=HTML)
    assert f'<tr id="task-{made.id}" class="overdue">' in listed.text
    assert "Overdue" in listed.text

    edit = await web.get(f"/t/acme/oa/tasks/{made.id}/edit", headers=HTML)
    token = csrf(edit)
    fields = {
        "_csrf_token": token,
        "version": "1",
        "title": "File the taxes",
        "assignee_id": str(ann.user_id),
        "due_on": (date.today() - timedelta(days=3)).isoformat(),  # unchanged: allowed
        "priority": "normal",
    }
    saved = await web.post(f"/t/acme/oa/tasks/{made.id}/edit", data=fields, headers=HTML)
    assert saved.status_code == 303
    stale = await web.post(
        f"/t/acme/oa/tasks/{made.id}/edit", data={**fields, "title": "Mine"}, headers=HTML
    )
    assert stale.status_code == 409
    assert 'id="edit-version-error"' in stale.text
    assert 'id="saved-now"' in stale.text
    assert 'name="version" value="2"' in stale.text  # saving again is now a choice


async def test_a_task_is_created_from_a_party_page_and_links_back(
    db: Database, office: Office, browser: Browser
) -> None:
    ann = await office.member("Ann")
    bob = await office.member("Bob")
    async with office.session() as session:
        party = await parties.create_party(
            session, ann, PartyIn(kind="company", name="Hangzhou Tea Co."), allow_duplicates=True
        )
    web = await open_as(db, browser, ann)
    party_page = await web.get(f"/t/acme/parties/{party.id}", headers=HTML)
    assert party_page.status_code == 200
    new_url = f"/t/acme/oa/tasks/new?record_type=core.party&amp;record_id={party.id}"
    assert 'id="create-task-from-record"' in party_page.text
    assert new_url in party_page.text
    fields = {"title": "Send the tea samples", "record_type": "core.party"}
    made = await submit(
        web,
        new_url.replace("&amp;", "&"),
        "/t/acme/oa/tasks/new",
        {**fields, "record_id": str(party.id)},
    )
    assert made.status_code == 303
    task_page = await web.get(made.headers["location"], headers=HTML)
    assert f'href="/t/acme/parties/{party.id}"' in task_page.text.split('id="task-record"')[1]
    party_page = await web.get(f"/t/acme/parties/{party.id}", headers=HTML)
    assert "Send the tea samples" in party_page.text.split('id="record-tasks"')[1]

    # Bob (a member: his own parties only) may not read Ann's party, so not hang tasks on it.
    bobs = await open_as(db, browser, bob)
    assert (await bobs.get(new_url.replace("&amp;", "&"), headers=HTML)).status_code == 404
    token = csrf(await bobs.get("/t/acme/oa/tasks/new", headers=HTML))
    posted = await bobs.post(
        "/t/acme/oa/tasks/new",
        data={"_csrf_token": token, **fields, "record_id": str(party.id)},
        headers=HTML,
    )
    assert posted.status_code == 404
    via_api = await bobs.post(
        "/api/t/acme/oa/tasks",
        json={"title": "Sneak", "record_type": "core.party", "record_id": str(party.id)},
    )
    assert via_api.status_code == 404
    async with office.session() as session:
        assert [t.title for t in await session.scalars(select(Task))] == ["Send the tea samples"]


async def test_the_json_api(db: Database, office: Office, browser: Browser) -> None:
    ann = await office.member("Ann")
    bob = await office.member("Bob")
    carol = await office.member("Carol")
    api = await open_as(db, browser, ann)
    made = await api.post(
        "/api/t/acme/oa/tasks",
        json={"title": "Plan the offsite", "assignee_id": str(bob.user_id), "priority": "high"},
    )
    assert made.status_code == 201, made.text
    task = made.json()
    assert (task["status"], task["assignee_name"], task["version"]) == ("todo", "Bob", 1)
    sub = await api.post(
        "/api/t/acme/oa/tasks", json={"title": "Book the venue", "parent_id": task["id"]}
    )
    assert sub.status_code == 201
    refused = await api.post(f"/api/t/acme/oa/tasks/{task['id']}/move", json={"status": "done"})
    assert refused.status_code == 409
    blank = await api.post("/api/t/acme/oa/tasks", json={"title": ""})
    assert blank.status_code == 422

    changed = await api.patch(
        f"/api/t/acme/oa/tasks/{task['id']}", json={"version": 1, "title": "Plan the retreat"}
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    stale = await api.patch(f"/api/t/acme/oa/tasks/{task['id']}", json={"version": 1})
    assert stale.status_code == 409

    shown = (await api.get(f"/api/t/acme/oa/tasks/{task['id']}")).json()
    assert shown["progress"] == {"done": 0, "total": 1}
    assert [s["title"] for s in shown["subtasks"]] == ["Book the venue"]
    bobs = await open_as(db, browser, bob)
    mine = (await bobs.get("/api/t/acme/oa/tasks?view=mine")).json()
    assert [t["title"] for t in mine["items"]] == ["Plan the retreat"]
    carols = await open_as(db, browser, carol)
    assert (await carols.get(f"/api/t/acme/oa/tasks/{task['id']}")).status_code == 404
    assert (await carols.get("/api/t/acme/oa/tasks")).json()["items"] == []
    assert (await api.get("/api/t/acme/oa/tasks?view=nobody")).status_code == 422
    paths = (await api.get("/schema/openapi.json")).json()["paths"]
    assert {"/api/t/{tenant_slug}/oa/tasks", "/api/t/{tenant_slug}/oa/tasks/{task_id}"} <= set(
        paths
    )
