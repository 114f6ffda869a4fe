"""The calendar pages and JSON API over real HTTP: a room booking collision is refused with
the meeting that holds the room named beside the room input (409, nothing written) and in
the API's error; an end before the start is refused beside the end; invitees answer and
the organiser's page shows it; the week, day, rooms and calendars pages render; a member
may not manage rooms (403) nor open another's private event (404)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from core.db import Database
from modules.oa.models.calendar import CalendarEvent
from tests.conftest import Browser
from tests.web.test_every_form import refusals, walk
from tests.web.test_parties_api import HTML, join, the_test_owner, user
from tests.web.test_recovery_pages import csrf

PAGES = "/t/acme/oa/calendar"
API = "/api/t/acme/oa/calendar"


async def send(http: httpx.AsyncClient, page_url: str, target: str, fields: dict) -> httpx.Response:
    """Open ``page_url`` (for its CSRF token) and post ``fields`` to ``target``."""
    page = await http.get(page_url, headers=HTML)
    assert page.status_code == 200, page.text
    return await http.post(target, data={"_csrf_token": csrf(page), **fields}, headers=HTML)


def error_beside(page: httpx.Response, form: str, field: str) -> str:
    assert f'aria-describedby="{form}-{field}-error"' in page.text
    return page.text.split(f'id="{form}-{field}-error">')[1].split("</p>")[0]


async def made(answer: httpx.Response) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def events(db: Database, tenant_id) -> int:
    async with db.tenant_transaction(tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(CalendarEvent)) or 0


def meeting(room_id: str, **fields: str) -> dict[str, str]:
    return {
        "title": "Budget review",
        "starts_at": "2027-03-04T09:00",
        "ends_at": "2027-03-04T10:00",
        "room_id": room_id,
        **fields,
    }


async def test_a_room_collision_is_refused_beside_the_room_on_the_form_and_in_the_api(
    db: Database, make_tenant, browser: Browser
) -> None:
    acme = await make_tenant("acme", "oa")
    owner = await browser(await the_test_owner(db))
    added = await send(
        owner, f"{PAGES}/rooms", f"{PAGES}/rooms", {"name": "Lotus", "capacity": "6"}
    )
    assert added.status_code == 303
    room = (await made(await owner.get(f"{API}/rooms")))[0]
    assert (room["name"], room["capacity"], room["active"]) == ("Lotus", 6, True)

    first = await send(owner, f"{PAGES}/events/new", f"{PAGES}/events", meeting(room["id"]))
    assert first.status_code == 303
    assert first.headers["location"].startswith(f"{PAGES}/events/")

    clash = meeting(room["id"], title="Stand-up", starts_at="2027-03-04T09:30")
    refused = await send(owner, f"{PAGES}/events/new", f"{PAGES}/events", clash)
    assert refused.status_code == 409
    assert error_beside(refused, "event", "room_id") == (
        "The room Lotus is already booked from 2027-03-04 09:00 to 2027-03-04 10:00"
        " by “Budget review”."
    )
    assert 'value="Stand-up"' in refused.text  # what was typed is kept
    assert await events(db, acme.tenant_id) == 1

    body = {
        "title": "API meeting",
        "starts_at": "2027-03-04T09:59:00+00:00",
        "ends_at": "2027-03-04T11:00:00+00:00",
        "room_id": room["id"],
    }
    answer = await owner.post(f"{API}/events", json=body)
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert (error["code"], error["field"], error["meeting"]) == (
        "conflict",
        "room_id",
        "Budget review",
    )
    assert "Budget review" in error["message"]
    # Back to back is fine.
    after = await made(
        await owner.post(f"{API}/events", json={**body, "starts_at": "2027-03-04T10:00:00Z"})
    )
    assert after["room_id"] == room["id"]
    scratch = await made(
        await owner.post(f"{API}/events", json={**body, "room_id": None, "title": "Scratch"})
    )
    assert (await owner.delete(f"{API}/events/{scratch['id']}")).status_code == 204
    schedule = await made(await owner.get(f"{API}/rooms/schedule", params={"day": "2027-03-04"}))
    assert [b["title"] for b in schedule[0]["bookings"]] == ["Budget review", "API meeting"]
    page = await owner.get(f"{PAGES}/rooms", params={"day": "2027-03-04"}, headers=HTML)
    assert page.status_code == 200
    assert "09:00–10:00 · Budget review" in page.text


async def test_refusals_invitations_and_who_sees_what(
    db: Database, make_tenant, browser: Browser
) -> None:
    acme = await make_tenant("acme", "oa")
    owner = await browser(await the_test_owner(db))
    wei_user, li_user = await user(db, "Wei"), await user(db, "Li")
    await join(db, acme, wei_user)
    await join(db, acme, li_user)
    wei, li = await browser(wei_user), await browser(li_user)

    backwards = {"title": "Oops", "starts_at": "2027-03-04T10:00", "ends_at": "2027-03-04T09:00"}
    refused = await send(owner, f"{PAGES}/events/new", f"{PAGES}/events", backwards)
    assert refused.status_code == 422
    assert error_beside(refused, "event", "ends_at") == "The end must be after the start."
    bad = await owner.post(
        f"{API}/events",
        json={**backwards, "starts_at": "2027-03-04T10:00:00Z", "ends_at": "2027-03-04T09:00:00Z"},
    )
    assert (bad.status_code, bad.json()["error"].get("field")) == (422, "ends_at")
    assert await events(db, acme.tenant_id) == 0

    planned = await send(
        owner,
        f"{PAGES}/events/new",
        f"{PAGES}/events",
        {
            "title": "Planning",
            "starts_at": "2027-03-04T14:00",
            "ends_at": "2027-03-04T15:00",
            "invitee_ids": [str(wei_user.id), str(li_user.id)],
        },
    )
    assert planned.status_code == 303
    event_url = planned.headers["location"]
    event_id = event_url.rsplit("/", 1)[1]

    told = await made(await wei.get("/api/t/acme/notifications"))
    assert [n["message"] for n in told] == [
        "Test Owner invited you to “Planning” on 2027-03-04 14:00."
    ]
    bell = await wei.get("/t/acme/notifications", headers=HTML)
    assert f'href="{event_url}"' in bell.text  # the notification links to the meeting
    invited = await wei.get(PAGES, params={"week": "2027-03-04"}, headers=HTML)
    assert 'id="invitations"' in invited.text
    assert (
        await send(wei, event_url, f"{event_url}/answer", {"answer": "accept"})
    ).status_code == 303
    declined = await li.post(f"{API}/events/{event_id}/answer", json={"accept": False})
    assert declined.status_code == 200

    seen = await made(await owner.get(f"{API}/events/{event_id}"))
    assert {i["name"]: i["response"] for i in seen["invitees"]} == {
        "Wei": "accepted",
        "Li": "declined",
    }
    comment = await wei.post(
        f"/api/t/acme/records/oa.event/{event_id}/comments", json={"body": "I'll bring the plan."}
    )
    assert comment.status_code == 201, comment.text
    page = await owner.get(event_url, headers=HTML)
    assert "I&#39;ll bring the plan." in page.text  # core's timeline on the meeting's page
    assert f'id="invitee-{wei_user.id}"><td>Wei</td><td class="answer-accepted">' in page.text
    assert f'id="invitee-{li_user.id}"><td>Li</td><td class="answer-declined">' in page.text

    # A private event is nobody else's business; rooms are for room managers.
    private = await made(
        await wei.post(
            f"{API}/events",
            json={
                "title": "Dentist",
                "starts_at": "2027-03-04T08:00:00Z",
                "ends_at": "2027-03-04T09:00:00Z",
            },
        )
    )
    assert (await li.get(f"{PAGES}/events/{private['id']}", headers=HTML)).status_code == 404
    assert (await owner.get(f"{API}/events/{private['id']}")).status_code == 404
    peek = await li.get(f"/api/t/acme/records/oa.event/{private['id']}/timeline")
    assert peek.status_code == 404
    listed = await made(
        await li.get(
            f"{API}/events",
            params={"start": "2027-03-04T00:00:00Z", "end": "2027-03-05T00:00:00Z"},
        )
    )
    assert [e["title"] for e in listed] == ["Planning"]
    for start, end, field in (
        ("2027-03-04T00:00:00", "2027-03-05T00:00:00Z", "start"),  # no time zone
        ("2027-03-05T00:00:00Z", "2027-03-04T00:00:00Z", "end"),
    ):
        bad = await li.get(f"{API}/events", params={"start": start, "end": end})
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, field)
    room = await li.post(f"{API}/rooms", json={"name": "Li's room", "capacity": 2})
    assert room.status_code == 403

    for url in (PAGES, f"{PAGES}/day?day=2027-03-04", f"{PAGES}/rooms", f"{PAGES}/calendars"):
        shown = await wei.get(url, headers=HTML)
        assert shown.status_code == 200, url
    week = await wei.get(PAGES, params={"week": "2027-03-04"}, headers=HTML)
    assert "14:00–15:00 · Planning" in week.text
    assert "Dentist" in week.text

    shared = await send(
        wei,
        f"{PAGES}/calendars",
        f"{PAGES}/calendars",
        {"name": "Sales team", "readers": [str(li_user.id)]},
    )
    assert shared.status_code == 303
    calendars = await made(await li.get(f"{API}/calendars"))
    assert [(c["name"], c["can_write"]) for c in calendars] == [("Sales team", False)]
    sales = calendars[0]["id"]
    visit = {
        "title": "Customer visit",
        "starts_at": "2027-03-05T08:00:00Z",
        "ends_at": "2027-03-05T09:00:00Z",
        "calendar_id": sales,
    }
    await made(await wei.post(f"{API}/events", json=visit))
    only_sales = await li.get(PAGES, params={"week": "2027-03-04", "calendar": sales}, headers=HTML)
    assert "Customer visit" in only_sales.text
    assert "Planning" not in only_sales.text.split('id="week-days"')[1].split("</section>")[0]
    everything = await li.get(PAGES, params={"week": "2027-03-04"}, headers=HTML)
    assert "08:00–09:00 · Customer visit" in everything.text
    assert "14:00–15:00 · Planning" in everything.text
    promoted = await send(
        wei,
        f"{PAGES}/calendars",
        f"{PAGES}/calendars/{sales}/members",
        {"user_id": str(li_user.id), "access": "write"},
    )
    assert promoted.status_code == 303
    refused = await send(
        wei, f"{PAGES}/calendars", f"{PAGES}/calendars/{sales}/members", {"user_id": ""}
    )
    assert refused.status_code == 422
    assert error_beside(refused, f"calendar-{sales}", "user_id") == "Choose one from the list."
    left = await li.put(f"{API}/calendars/{sales}/members/{li_user.id}", json={"access": "none"})
    assert (left.status_code, left.json()) == (200, [])

    # The organiser moves the meeting on its form: everyone is asked again; then cancels it.
    edit = await owner.get(f"{event_url}/edit", headers=HTML)
    assert 'value="Planning"' in edit.text
    assert 'value="2027-03-04T14:00"' in edit.text
    moved = await send(
        owner,
        f"{event_url}/edit",
        event_url,
        {
            "title": "Planning",
            "starts_at": "2027-03-04T16:00",
            "ends_at": "2027-03-04T17:00",
            "invitee_ids": [str(wei_user.id), str(li_user.id)],
        },
    )
    assert (moved.status_code, moved.headers["location"]) == (303, event_url)
    seen = await made(await owner.get(f"{API}/events/{event_id}"))
    assert seen["starts_at"].startswith("2027-03-04T16:00")
    assert {i["response"] for i in seen["invitees"]} == {"pending"}
    assert (await send(wei, event_url, f"{event_url}/cancel", {})).status_code == 403
    assert (await send(owner, event_url, f"{event_url}/cancel", {})).status_code == 303
    assert (await owner.get(f"{API}/events/{event_id}")).status_code == 404
    told = await made(await li.get("/api/t/acme/notifications"))
    assert told[0]["message"] == "“Planning” on 2027-03-04 16:00 was cancelled."


async def test_every_calendar_form_refuses_bad_input_with_a_message_and_keeps_the_typing(
    db: Database, make_tenant, browser: Browser
) -> None:
    """The walk of tests/web/test_every_form.py over the calendar's pages (its workspace
    has no OA): 100,000 characters, every input empty — refused, with what was typed."""
    await make_tenant("acme", "oa")
    owner = await browser(await the_test_owner(db))
    await made(await owner.post(f"{API}/rooms", json={"name": "Lotus", "capacity": 6}))
    body = {
        "title": "Review",
        "starts_at": "2027-03-04T09:00:00Z",
        "ends_at": "2027-03-04T10:00:00Z",
    }
    await made(await owner.post(f"{API}/events", json=body))
    forms = await walk(owner, [PAGES, f"{PAGES}?week=2027-03-04"], pages=5)
    assert {f.pattern.split(" ")[0] for f in forms} >= {
        f"{PAGES}/events",
        f"{PAGES}/events/{{id}}",
        f"{PAGES}/rooms",
        f"{PAGES}/rooms/{{id}}",
        f"{PAGES}/calendars",
    }
    assert not (problems := await refusals(owner, forms)), "\n".join(problems)
