"""The approvals inbox over real HTTP: filters kept in the form, a bad filter said beside
it, the list refreshed by htmx and "More", "Approve selected" with an approver deciding
one first (and its refusal, and its CSRF), the counts in the tabs and in the navigation
with OA on (with a module that answers None beside it) and off (core's count as before),
the reminder settings page, the phone-width markup, and the JSON API: filters and their
422, paging, batch approve, counts, settings, and the table-driven action routes."""

from __future__ import annotations

import uuid
from pathlib import Path

from core import roles
from core.db import Database
from core.plugins.registry import ModuleRegistry
from tests.conftest import Browser
from tests.modules.oa.conftest import Office, decide, instance_of, request_status, step
from tests.modules.oa.test_approvals_pages import as_user, opened, owner_actor, send
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf

PAGES = "/t/acme/oa/approvals"
API = "/api/t/acme/oa/approvals"
HTMX = {**HTML, "HX-Request": "true"}
CSS = Path(__file__).resolve().parents[3] / "web" / "static" / "atrium.css"


async def either_of_two(office: Office, count: int):
    """``count`` approvals that Ann or Bo decides (either one: 或签), asked by Wei."""
    ann = await office.person("Ann")
    bo = await office.person("Bo")
    wei = await office.person("Wei")
    await office.flow(step("Either", member_ids=(ann.user_id, bo.user_id), mode="any"))
    return ann, bo, wei, [await office.ask(wei) for _ in range(count)]


async def test_filters_stay_in_the_form_and_a_bad_one_is_said_beside_them(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    wei = await office.person("Wei")
    await office.flow(step("Owner", member_ids=(owner.user_id,)))
    pending = await instance_of(office, await office.ask(wei, title="Lotus"))
    done = await office.ask(wei, title="Paper")
    await decide(office, owner, done)
    http = await browser(await the_test_owner(db))

    page = await opened(http, f"{PAGES}?box=all&status=pending&q=lot")
    assert f'id="approval-{pending.id}"' in page.text
    assert f'id="approval-{(await instance_of(office, done)).id}"' not in page.text
    assert 'value="lot"' in page.text  # typed, kept
    assert '<option value="pending" selected>' in page.text
    assert '<details class="oa-inbox-filters" id="inbox-filter-panel" open>' in page.text

    bad = await http.get(f"{PAGES}?box=all&from=2026-02-30", headers=HTML)
    assert bad.status_code == 200  # the box still shows, unfiltered, with the reason
    assert 'id="filter-error"' in bad.text
    assert "2026-03-05" in bad.text  # the message shows the form a date takes
    assert 'value="2026-02-30"' in bad.text
    unknown = await http.get(f"{PAGES}?box=all&requester=nobody", headers=HTML)
    assert 'id="filter-error"' in unknown.text

    swapped = await http.get(f"{PAGES}?box=all&q=paper", headers=HTMX)
    assert swapped.status_code == 200
    assert swapped.text.lstrip().startswith('<div id="inbox-results">')
    assert "<html" not in swapped.text
    assert f'id="approval-{pending.id}"' not in swapped.text


async def test_more_pages_the_box_with_and_without_htmx(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    wei = await office.person("Wei")
    await office.flow(step("Owner", member_ids=(owner.user_id,)))
    made = [(await instance_of(office, await office.ask(wei))).id for _ in range(31)]
    http = await browser(await the_test_owner(db))
    first = await opened(http, f"{PAGES}?box=todo&requester={wei.user_id}")
    assert f'id="approval-{made[-1]}"' in first.text
    assert f'id="approval-{made[0]}"' not in first.text  # the 31st is on the next page
    more = f"{PAGES}?box=todo&amp;requester={wei.user_id}&amp;after={made[1]}"
    assert more in first.text
    rest = await http.get(more.replace("&amp;", "&"), headers=HTMX)
    assert f'id="approval-{made[0]}"' in rest.text
    assert '<li class="oa-inbox-item"' in rest.text
    assert "inbox-results" not in rest.text  # cards only, added where "More" was
    assert "more-approvals" not in rest.text  # the last page

    listed = await http.get(f"{API}/?box=todo")
    assert len(listed.json()) == 30
    assert listed.headers["x-next-cursor"] == str(made[1])
    last = await http.get(f"{API}/?box=todo&after={made[1]}")
    assert [i["id"] for i in last.json()] == [str(made[0])]
    assert "x-next-cursor" not in last.headers


async def test_approve_selected_reports_the_one_another_approver_took(
    db: Database, office: Office, browser: Browser
) -> None:
    ann, bo, _, asked = await either_of_two(office, 3)
    ids = [str((await instance_of(office, r)).id) for r in asked]
    await decide(office, bo, asked[1])  # Bo was quicker with this one
    http = await as_user(db, browser, ann)
    inbox = await opened(http, PAGES)
    assert 'id="batch-approve"' in inbox.text
    assert f'id="pick-{ids[0]}"' in inbox.text
    assert f'id="pick-{ids[1]}"' not in inbox.text  # no longer in Ann's box
    assert 'id="todo-count">2</span>' in inbox.text

    unsigned = await http.post(
        f"{PAGES}/batch/approve", data={"ids": ids, "comment": "ok"}, headers=HTML
    )
    assert unsigned.status_code == 403
    token = csrf(inbox)
    answer = await http.post(
        f"{PAGES}/batch/approve",
        data={"_csrf_token": token, "ids": ids, "comment": "All fine"},
        headers=HTML,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{PAGES}?box=todo&approved=2&not_waiting=1"
    said = await opened(http, answer.headers["location"])
    assert "2 approved." in said.text
    assert "1 no longer waited for you." in said.text
    assert 'id="todo-count"' not in said.text
    assert [await request_status(office, r) for r in asked] == ["approved"] * 3


async def test_approve_selected_with_nothing_chosen_is_refused_beside_the_form(
    db: Database, office: Office, browser: Browser
) -> None:
    ann, _, _, (asked,) = await either_of_two(office, 1)
    http = await as_user(db, browser, ann)
    refused = await send(http, PAGES, f"{PAGES}/batch/approve", comment="keep me")
    assert refused.status_code == 422
    assert 'id="batch-ids-error"' in refused.text
    assert 'value="keep me"' in refused.text
    too_long = await send(
        http,
        PAGES,
        f"{PAGES}/batch/approve",
        ids=str((await instance_of(office, asked)).id),
        comment="x" * 2001,
    )
    assert too_long.status_code == 422
    assert 'id="batch-comment-error"' in too_long.text
    assert await request_status(office, asked) == "pending"


async def test_the_navigation_counts_what_waits_for_the_member_with_oa_on(
    db: Database, make_tenant, registry: ModuleRegistry, browser: Browser
) -> None:
    # A workspace with OA and the sample module, which answers the hook with None.
    duo = Office(db, registry, await make_tenant("duo", "oa", "sample"))
    ann, bo, wei, asked = await either_of_two(duo, 2)
    http = await as_user(db, browser, ann)
    page = await opened(http, "/t/duo/oa/tasks")
    assert 'id="approvals-waiting" href="/t/duo/oa/approvals"' in page.text
    assert ">Approvals waiting: 2</a>" in page.text
    await decide(duo, bo, asked[0])
    page = await opened(http, "/t/duo/oa/tasks")
    assert ">Approvals waiting: 1</a>" in page.text
    requester = await as_user(db, browser, wei)
    assert 'id="approvals-waiting"' not in (await opened(requester, "/t/duo/oa/tasks")).text
    counted = await http.get("/api/t/duo/oa/approvals/counts")
    assert counted.json() == {"todo": 1}


async def test_with_oa_off_core_counts_as_before(
    db: Database, make_tenant, registry: ModuleRegistry, browser: Browser
) -> None:
    bolt = Office(db, registry, await make_tenant("bolt", "crm"))
    wei = await bolt.person("Wei")
    await bolt.ask(wei)  # core's rule: it waits for the owners and admins
    http = await browser(await the_test_owner(db))
    page = await opened(http, "/t/bolt/")
    assert 'id="approvals-waiting" href="/t/bolt/approvals"' in page.text
    assert ">Approvals waiting: 1</a>" in page.text
    member = await as_user(db, browser, wei)
    assert 'id="approvals-waiting"' not in (await opened(member, "/t/bolt/")).text


async def test_admins_set_the_reminder_time_on_its_page(
    db: Database, office: Office, browser: Browser
) -> None:
    http = await browser(await the_test_owner(db))
    inbox = await opened(http, PAGES)
    assert f'href="{PAGES}/settings" id="approval-settings"' in inbox.text
    settings = f"{PAGES}/settings"
    shown = await opened(http, settings)
    assert 'name="remind_after_hours" min="0" max="720" step="1" value="24"' in shown.text
    assert 'name="remind_every_hours" min="0" max="720" step="1" value="0"' in shown.text
    refused = await send(
        http, settings, settings, remind_after_hours="soon", remind_every_hours="4"
    )
    assert refused.status_code == 422
    assert 'id="settings-remind_after_hours-error"' in refused.text
    assert 'value="soon"' in refused.text
    assert 'name="remind_every_hours" min="0" max="720" step="1" value="4"' in refused.text
    too_many = await send(
        http, settings, settings, remind_after_hours="8", remind_every_hours="721"
    )
    assert too_many.status_code == 422
    assert 'id="settings-remind_every_hours-error"' in too_many.text
    saved = await send(http, settings, settings, remind_after_hours="0", remind_every_hours="6")
    assert saved.status_code == 303
    again = (await opened(http, settings)).text
    assert 'name="remind_after_hours" min="0" max="720" step="1" value="0"' in again
    assert 'name="remind_every_hours" min="0" max="720" step="1" value="6"' in again

    member = await as_user(db, browser, await office.person("Wei"))
    assert (await member.get(settings, headers=HTML)).status_code == 403
    assert 'id="approval-settings"' not in (await opened(member, PAGES)).text
    assert (await member.get(f"{API}/settings")).status_code == 403


async def test_the_inbox_and_an_approval_read_at_phone_width(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    await office.flow(step("Owner", member_ids=(owner.user_id,)))
    instance = await instance_of(office, await office.ask(await office.person("Wei")))
    http = await browser(await the_test_owner(db))
    inbox = await opened(http, PAGES)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in inbox.text
    assert '<ul id="approval-list" class="oa-inbox-list">' in inbox.text  # cards, not a table
    assert '<li class="oa-inbox-item"' in inbox.text
    assert '<details class="oa-inbox-filters"' in inbox.text  # filters fold away
    assert 'class="oa-inbox-batch"' in inbox.text
    assert "style=" not in inbox.text.split('<main id="content"', 1)[1]
    detail = await opened(http, f"{PAGES}/{instance.id}")
    assert 'id="decide-form"' in detail.text
    css = CSS.read_text(encoding="utf-8")
    ours = css.split("/* --- oa inbox --- */", 1)[1]
    assert ".oa-inbox-item { display: flex;" in ours
    assert "#decide-form, #requester-actions { display: flex; flex-wrap: wrap;" in ours
    assert "@media (max-width: 48rem)" in ours


async def test_the_api_filters_refuses_bad_ones_and_approves_many(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    wei = await office.person("Wei")
    li = await office.person("Li")
    await office.flow(step("Owner", member_ids=(owner.user_id,)))
    weis = await instance_of(office, await office.ask(wei, title="Lotus"))
    lis = await instance_of(office, await office.ask(li, title="Paper"))
    http = await browser(await the_test_owner(db))

    by_li = (await http.get(f"{API}/", params={"requester": str(li.user_id)})).json()
    assert [i["id"] for i in by_li] == [str(lis.id)]
    found = (await http.get(f"{API}/", params={"q": "lotus", "status": "pending"})).json()
    assert [i["id"] for i in found] == [str(weis.id)]
    for name, bad in (("status", "lost"), ("from", "soon"), ("kind", "x.y"), ("q", "x" * 101)):
        refused = await http.get(f"{API}/", params={name: bad})
        assert refused.status_code == 422, name
        assert refused.json()["error"]["field"] == name
    assert (await http.get(f"{API}/", params={"after": "x"})).status_code == 422

    assert (await http.get(f"{API}/counts")).json() == {"todo": 2}
    ghost = uuid.uuid4()
    batch = await http.post(
        f"{API}/batch/approve", json={"ids": [str(weis.id), str(ghost)], "comment": "ok"}
    )
    assert batch.status_code == 200
    assert batch.json() == {"approved": [str(weis.id)], "not_waiting": [str(ghost)]}
    assert (await http.post(f"{API}/batch/approve", json={"ids": []})).status_code == 422
    assert (await http.get(f"{API}/counts")).json() == {"todo": 1}

    assert (await http.get(f"{API}/settings")).json() == {
        "remind_after_hours": 24,
        "remind_every_hours": 0,
    }
    put = await http.put(f"{API}/settings", json={"remind_after_hours": 8})
    assert put.json() == {"remind_after_hours": 8, "remind_every_hours": 0}
    repeat = await http.put(
        f"{API}/settings", json={"remind_after_hours": 8, "remind_every_hours": 4}
    )
    assert repeat.json() == {"remind_after_hours": 8, "remind_every_hours": 4}
    assert (await http.put(f"{API}/settings", json={"remind_after_hours": -1})).status_code == 422
    wrong = await http.put(
        f"{API}/settings", json={"remind_after_hours": 8, "remind_every_hours": 999}
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["field"] == "remind_every_hours"


async def test_the_table_driven_action_routes_keep_their_bodies(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    bo = await office.person("Bo", role=roles.MEMBER)
    wei = await office.person("Wei")
    await office.flow(step("Owner", member_ids=(owner.user_id,)))
    instance = await instance_of(office, await office.ask(wei))
    boss = await browser(await the_test_owner(db))
    requester = await as_user(db, browser, wei)
    url = f"{API}/{instance.id}"

    urged = await requester.post(f"{url}/urge")  # the one action without a body
    assert urged.status_code == 200
    assert [a["action"] for a in urged.json()["timeline"]] == ["submitted", "urged"]
    moved = await boss.post(f"{url}/transfer", json={"to_user_id": str(bo.user_id)})
    assert moved.status_code == 200
    stranger = await as_user(db, browser, await office.person("Stranger"))
    assert (await stranger.post(f"{url}/approve", json={})).status_code == 404
    bos = await as_user(db, browser, bo)
    back = await bos.post(f"{url}/return", json={"comment": "Fix it"})
    assert back.json()["status"] == "returned"
    again = await requester.post(f"{url}/resubmit", json={"comment": "Fixed"})
    assert again.json()["status"] == "pending"
    gone = await requester.post(f"{url}/withdraw", json={})
    assert gone.json()["status"] == "withdrawn"
    assert (await requester.post(f"{url}/withdraw", json={})).status_code == 409
    assert (await requester.post(f"{url}/nonsense", json={})).status_code in (404, 405)
