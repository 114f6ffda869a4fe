"""A room booking collision is refused with a clear message, in a real browser: an admin
adds a meeting room, books it for a meeting with a colleague; the colleague, on a phone,
sees the invitation and accepts; then tries to book the same room at an overlapping time
and is told, beside the room, which meeting holds it; moving to the next hour (back to
back) books it. Times are typed and shown in each member's own time zone."""

from __future__ import annotations

from playwright.async_api import Page, expect

from core.db import Database
from core.identity import accounts
from core.models import Membership, User
from tests.e2e.conftest import NewContext, Shoot, at
from tests.e2e.test_operator_suspends import sign_in

ADMIN = ("Wang Fang", "wang.fang@lotus.example", "amber-river-quartz-58")
MEMBER = ("Li Na", "li.na@lotus.example", "plum-harbour-lantern-47")
CALENDAR = "/t/lotus/oa/calendar"
PHONE = {"width": 390, "height": 844}


async def _account(db: Database, name: str, email: str, password: str) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(
            session, email=email, password=password, display_name=name, time_zone="Asia/Shanghai"
        )


async def _meeting(page: Page, title: str, starts: str, ends: str, room: str) -> None:
    await page.goto(f"{CALENDAR}/events/new")
    form = page.locator("#event-form")
    await form.get_by_label("Title").fill(title)
    await form.get_by_label("Starts").fill(starts)
    await form.get_by_label("Ends").fill(ends)
    await form.get_by_label("Meeting room").select_option(label=room)


async def test_a_room_booking_collision_is_refused_with_a_clear_message(
    new_context: NewContext, shoot: Shoot, db: Database, make_tenant
) -> None:
    await _account(db, *ADMIN)
    member = await _account(db, *MEMBER)
    ctx = await make_tenant("lotus", "oa", owner_email=ADMIN[1])
    async with db.tenant_transaction(ctx.tenant_id) as session:
        session.add(Membership(user_id=member.id, role="member"))

    admin = await (await new_context(locale="en-GB")).new_page()
    await sign_in(admin, f"{CALENDAR}/rooms", ADMIN[1], ADMIN[2])
    await expect(admin).to_have_url(at(f"{CALENDAR}/rooms"))
    room_form = admin.locator("#room-form")
    await room_form.get_by_label("Name").fill("Lotus Hall")
    await room_form.get_by_label("Seats").fill("6")
    await room_form.get_by_role("button", name="Add the room").click()
    await expect(admin.locator("#room-schedule h2")).to_have_text("Lotus Hall")

    await _meeting(
        admin, "Budget review", "2027-03-04T09:00", "2027-03-04T10:00", "Lotus Hall (seats 6)"
    )
    await admin.locator("#event-form").get_by_label("Invitees").select_option(label=MEMBER[0])
    await shoot(admin, "admin-books-the-room")
    await admin.get_by_role("button", name="Save").click()
    await expect(admin.locator("#event-title")).to_have_text("Budget review")
    await expect(admin.locator("#event-room")).to_have_text("Lotus Hall")

    phone = await (await new_context(locale="en-GB", viewport=PHONE)).new_page()
    await sign_in(phone, f"{CALENDAR}?week=2027-03-04", MEMBER[1], MEMBER[2])
    invitation = phone.locator("#invitations li")
    await expect(invitation).to_contain_text("Budget review")
    await shoot(phone, "week-with-an-invitation-on-a-phone")
    await invitation.get_by_role("button", name="Accept").click()
    await expect(phone.locator("#my-answer")).to_have_text("You accepted.")

    await _meeting(
        phone, "Design sync", "2027-03-04T09:30", "2027-03-04T10:30", "Lotus Hall (seats 6)"
    )
    await phone.get_by_role("button", name="Save").click()
    refusal = phone.locator("#event-room_id-error")
    await expect(refusal).to_have_text(
        "The room Lotus Hall is already booked from 2027-03-04 09:00 to 2027-03-04 10:00"
        " by “Budget review”."
    )
    await expect(phone.locator("#event-room")).to_have_attribute("aria-invalid", "true")
    await expect(phone.locator("#event-form").get_by_label("Title")).to_have_value("Design sync")
    await shoot(phone, "collision-refused-on-a-phone")

    await phone.locator("#event-form").get_by_label("Starts").fill("2027-03-04T10:00")
    await phone.locator("#event-form").get_by_label("Ends").fill("2027-03-04T11:00")
    await phone.get_by_role("button", name="Save").click()
    await expect(phone.locator("#event-title")).to_have_text("Design sync")

    # The organiser sees who answered, and the room's day shows both meetings.
    await admin.reload()
    await expect(admin.locator(f"#invitee-{member.id}")).to_contain_text("Accepted")
    await admin.goto(f"{CALENDAR}/rooms?day=2027-03-04")
    bookings = admin.locator("#room-schedule li")
    await expect(bookings).to_have_text(
        ["09:00–10:00 · Budget review", "10:00–11:00 · Design sync"]
    )
    await shoot(admin, "room-schedule")
