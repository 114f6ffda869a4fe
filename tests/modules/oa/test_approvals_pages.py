"""The approval pages and JSON API over real HTTP: the inbox's boxes, an approval's page
with its steps, timeline and buttons (approve from the page, a post without its CSRF token
refused), the flow editor for admins (list, save a version, preview, a refused flow shown
again; 403 for a member), the API's approve / 409 / preview / save, CRM's contract page
linking to OA's approval instead of deciding it, delegation made and ended from the inbox,
and another workspace's approval 404."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from core import roles
from core.db import Database
from core.models import ApprovalRequest, Membership, User
from core.permissions import Actor
from tests.conftest import Browser
from tests.modules.crm.test_contracts import customer, draft, submit
from tests.modules.oa.conftest import KIND, Office, instance_of, request_status, step
from tests.modules.oa.test_approvals_engine import shop  # noqa: F401  (the CRM+OA fixture)
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf

PAGES = "/t/acme/oa/approvals"
API = "/api/t/acme/oa/approvals"


async def opened(http: httpx.AsyncClient, url: str) -> httpx.Response:
    page = await http.get(url, headers=HTML)
    assert page.status_code == 200, page.text
    return page


async def send(http: httpx.AsyncClient, page_url: str, target: str, **fields: str):
    """Open ``page_url`` (for its CSRF token) and post ``fields`` to ``target``."""
    token = csrf(await opened(http, page_url))
    return await http.post(target, data={"_csrf_token": token, **fields}, headers=HTML)


async def as_user(db: Database, browser: Browser, who: Actor) -> httpx.AsyncClient:
    async with db.global_transaction() as session:
        user = await session.get(User, who.user_id)
        assert user is not None
    return await browser(user)


async def owner_actor(db: Database, office: Office) -> Actor:
    owner = await the_test_owner(db)
    async with office.session() as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == owner.id))
        assert membership is not None
    return await office.actor(membership.id)


async def test_the_owner_approves_from_the_inbox_and_the_requester_sees_it(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    wei = await office.person("Wei")
    await office.flow(step("Owner", member_ids=(owner.user_id,)))
    asked = await office.ask(wei)
    instance = await instance_of(office, asked)
    http = await browser(await the_test_owner(db))

    inbox = await opened(http, PAGES)
    assert f'id="approval-{instance.id}"' in inbox.text
    done = await opened(http, f"{PAGES}?box=done")
    assert f'id="approval-{instance.id}"' not in done.text
    page_url = f"{PAGES}/{instance.id}"
    shown = await opened(http, page_url)
    assert 'id="approve"' in shown.text
    assert "Submitted" in shown.text

    unsigned = await http.post(f"{page_url}/approve", data={"comment": "x"}, headers=HTML)
    assert unsigned.status_code == 403
    assert await request_status(office, asked) == "pending"

    answer = await send(http, page_url, f"{page_url}/approve", comment="Looks right")
    assert answer.status_code == 303
    assert answer.headers["location"] == page_url
    assert await request_status(office, asked) == "approved"
    after = await opened(http, page_url)
    assert "Looks right" in after.text
    assert 'id="approve"' not in after.text

    everything = await opened(http, f"{PAGES}?box=all")
    assert f'id="approval-{instance.id}"' in everything.text
    requester = await as_user(db, browser, wei)
    started = await opened(requester, f"{PAGES}?box=started")
    assert f'id="approval-{instance.id}"' in started.text
    assert 'id="box-all"' not in started.text  # a member has no "all approvals"
    assert (await requester.get(f"{API}/?box=all")).status_code == 422
    again = await send(requester, page_url, f"{page_url}/urge")
    assert again.status_code == 409  # decided: nothing to urge
    assert "no longer waits" in again.text


async def test_a_refused_action_comes_back_beside_its_form_and_the_requester_acts(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    wei = await office.person("Wei")
    await office.flow(step("Owner", member_ids=(owner.user_id,)))
    instance = await instance_of(office, await office.ask(wei))
    http = await browser(await the_test_owner(db))
    page_url = f"{PAGES}/{instance.id}"
    refused = await send(http, page_url, f"{page_url}/transfer", to_user_id="", comment="")
    assert refused.status_code == 422
    assert 'id="transfer-to_user_id-error"' in refused.text
    too_long = await send(http, page_url, f"{page_url}/reject", comment="x" * 2001)
    assert too_long.status_code == 422
    assert 'id="reject-form-error"' in too_long.text
    assert "x" * 2001 in too_long.text  # what was typed, shown again

    requester = await as_user(db, browser, wei)
    theirs = await opened(requester, page_url)
    assert 'id="withdraw"' in theirs.text
    assert 'id="urge"' in theirs.text
    assert 'id="approve"' not in theirs.text
    urged = await send(requester, page_url, f"{page_url}/urge")
    assert urged.status_code == 303
    withdrawn = await send(requester, page_url, f"{page_url}/withdraw", comment="")
    assert withdrawn.status_code == 303
    assert "Withdrawn" in (await opened(requester, page_url)).text


async def test_the_flow_editor_saves_versions_and_previews_for_admins_only(
    db: Database,
    shop: Office,  # noqa: F811  (CRM's contract approval is a kind of an enabled module)
    browser: Browser,
) -> None:
    lead = await shop.person("Lead")
    wei = await shop.person("Wei", manager=lead)
    http = await browser(await the_test_owner(db))
    pages, api = "/t/shop/oa/approvals", "/api/t/shop/oa/approvals"
    listed = await opened(http, f"{pages}/flows")
    assert f"{pages}/flows/{KIND}" in listed.text
    assert "Default flow" in listed.text
    editor = f"{pages}/flows/{KIND}"
    fields = {
        "name_1": "Manager",
        "approvers_1": "manager",
        "mode_1": "any",
        "levels_1": "1",
        "name_2": "Board",
        "approvers_2": "role",
        "role_2": "owner",
        "mode_2": "all",
        "cond_field_2": "amount",
        "cond_op_2": ">",
        "cond_value_2": "10000",
        "missing": "admins",
        "auto_approve_repeat": "on",
        "requester": str(wei.user_id),
        "field_amount": "20000",
    }
    previewed = await send(http, editor, editor, do="preview", **fields)
    assert previewed.status_code == 200
    preview = previewed.text.split('id="flow-preview"')[1].split("</ol>")[0]
    assert "Lead" in preview
    assert "Test Owner" in preview
    saved = await send(http, editor, editor, do="save", **fields)
    assert saved.status_code == 303
    assert "Version 1" in (await opened(http, editor)).text
    refused = await send(http, editor, editor, do="save", **{**fields, "approvers_1": "member"})
    assert refused.status_code == 422
    beside = refused.text.split('id="step-row-1"')[1].split("</fieldset>")[0]
    assert 'id="flow-error"' in beside
    assert "name one or more active members" in beside
    assert "Version 1" in refused.text  # nothing saved

    member = await as_user(db, browser, wei)
    assert (await member.get(f"{pages}/flows", headers=HTML)).status_code == 403
    assert (await member.get(editor, headers=HTML)).status_code == 403
    assert (await member.get(f"{api}/flows/{KIND}")).status_code == 403


async def test_the_api_approves_once_and_previews(
    db: Database, office: Office, browser: Browser
) -> None:
    owner = await owner_actor(db, office)
    wei = await office.person("Wei")
    http = await browser(await the_test_owner(db))
    saved = await http.put(
        f"{API}/flows/{KIND}",
        json={
            "steps": [{"name": "Owner", "approvers": "member", "member_ids": [str(owner.user_id)]}]
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1
    preview = await http.post(
        f"{API}/flows/{KIND}/preview", json={"requester_id": str(wei.user_id)}
    )
    assert preview.json() == [
        {"name": "Owner", "mode": "any", "people": ["Test Owner"], "to_admins": False}
    ]
    asked = await office.ask(wei)
    instance = await instance_of(office, asked)
    todo = (await http.get(f"{API}/?box=todo")).json()
    assert [item["id"] for item in todo] == [str(instance.id)]
    approved = await http.post(f"{API}/{instance.id}/approve", json={"comment": "OK"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    twice = await http.post(f"{API}/{instance.id}/reject", json={"comment": "No"})
    assert twice.status_code == 409
    shown = (await http.get(f"{API}/{instance.id}")).json()
    assert [a["action"] for a in shown["timeline"]] == ["submitted", "approved"]


async def test_crms_contract_page_links_to_the_approval_in_oa(
    db: Database,
    shop: Office,  # noqa: F811
    browser: Browser,
) -> None:
    lead = await shop.person("Lead")
    wei = await shop.person("Wei", manager=lead)
    made = await draft(shop, wei, await customer(shop, wei))
    await submit(shop, wei, made.id)
    http = await browser(await the_test_owner(db))
    contract = await opened(http, f"/t/shop/crm/contracts/{made.id}")
    assert 'id="decide-form"' not in contract.text  # core's rule does not decide it
    assert 'id="contract-approval-flow"' in contract.text
    href = contract.text.split('id="contract-approval-flow"')[0].rsplit('href="', 1)[1]
    href = href.split('"')[0]
    assert href.startswith("/t/shop/oa/approvals/requests/")
    followed = await http.get(href, headers=HTML, follow_redirects=True)
    assert followed.status_code == 200
    assert 'id="approval-steps"' in followed.text
    assert f'href="/t/shop/crm/contracts/{made.id}" id="approval-subject"' in followed.text
    async with shop.session() as session:
        engine_key = await session.scalar(select(ApprovalRequest.engine))
    assert engine_key == "oa"


async def test_another_workspaces_approval_is_not_found(
    db: Database, office: Office, other_office: Office, browser: Browser
) -> None:
    lead = await other_office.person("Lead")
    wei = await other_office.person("Wei", manager=lead)
    theirs = await instance_of(other_office, await other_office.ask(wei))
    boss = await office.person("Boss", role=roles.ADMIN)
    http = await as_user(db, browser, boss)
    assert (await http.get(f"{PAGES}/{theirs.id}", headers=HTML)).status_code == 404
    assert (await http.get(f"{API}/{theirs.id}")).status_code == 404


async def test_a_member_delegates_while_away_and_ends_it_early(
    db: Database, office: Office, browser: Browser
) -> None:
    wei = await office.person("Wei")
    deputy = await office.person("Deputy")
    http = await as_user(db, browser, wei)
    refused = await send(
        http,
        PAGES,
        f"{PAGES}/delegation",
        delegate_id=str(deputy.user_id),
        starts_on="2026-12-10",
        ends_on="2026-12-01",
    )
    assert refused.status_code == 422
    assert 'id="delegation-ends_on-error"' in refused.text
    made = await send(
        http,
        PAGES,
        f"{PAGES}/delegation",
        delegate_id=str(deputy.user_id),
        starts_on="2026-12-01",
        ends_on="2099-12-31",
    )
    assert made.status_code == 303
    inbox = await opened(http, PAGES)
    [delegation_id] = re.findall(r'id="delegation-([0-9a-f-]{36})"', inbox.text)
    ended = await send(http, PAGES, f"{PAGES}/delegation/{delegation_id}/end")
    assert ended.status_code == 303
    assert f'id="delegation-{delegation_id}"' not in (await opened(http, PAGES)).text
    over_api = await http.post(
        f"{API}/delegations",
        json={
            "delegate_id": str(deputy.user_id),
            "starts_on": "2026-12-01",
            "ends_on": "2099-01-01",
        },
    )
    assert over_api.status_code == 200
    listed = (await http.get(f"{API}/delegations")).json()
    assert [d["id"] for d in listed] == [over_api.json()["id"]]
    assert (await http.post(f"{API}/delegations/{listed[0]['id']}/end")).status_code == 200
    assert (await http.get(f"{API}/delegations")).json() == []
