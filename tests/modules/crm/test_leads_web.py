"""Leads over real HTTP: the JSON API, the pages (list, new lead with its duplicate warning,
the lead's page and its forms, conversion), the lead settings pages, the public
web-to-lead form (no sign-in, throttled, a honeypot, closed states) and the leads import
through the core import pages; never across workspaces."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from core.context import TenantContext
from core.db import Database
from core.models import Tenant
from core.parties.models import Party
from modules.crm.models import Lead
from tests.conftest import Browser
from tests.web.test_every_form import refusals, walk
from tests.web.test_import_pages import csv_file, upload
from tests.web.test_parties_api import HTML, HTMX, join, the_test_owner, user
from tests.web.test_recovery_pages import csrf

API = "/api/t/acme/crm"
PAGES = "/t/acme/crm"


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme", "crm", seed=True)


@pytest.fixture
async def bolt(make_tenant) -> TenantContext:
    return await make_tenant("bolt", "crm", seed=True)


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def created(http: httpx.AsyncClient, **body) -> dict:
    made = await http.post(f"{API}/leads", json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def leads_of(db: Database, tenant: TenantContext) -> list[Lead]:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        return list(await session.scalars(select(Lead).order_by(Lead.id)))


# --- the JSON API -----------------------------------------------------------------------------


async def test_the_api_takes_a_lead_from_creation_to_conversion(
    db: Database, owner: httpx.AsyncClient, bolt: TenantContext
) -> None:
    me = str((await the_test_owner(db)).id)
    first = await created(
        owner, name="Chen Jie", company_name="Delta Tools", email="chen@delta.test", owner_id=me
    )
    assert (first["status"], first["owner_id"], first["number"][:3]) == ("new", me, "LD-")

    again = await owner.post(f"{API}/leads", json={"name": "Jie", "email": "CHEN@delta.test"})
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "duplicate_suspected"
    assert error["candidates"] == [
        {
            "kind": "lead",
            "id": first["id"],
            "name": "Chen Jie",
            "number": first["number"],
            "reasons": ["email"],
        }
    ]
    offered = await owner.get(f"{API}/leads/duplicates", params={"company_name": "DELTA TOOLS"})
    assert [c["id"] for c in offered.json()] == [first["id"]]
    bad = await owner.post(f"{API}/leads", json={"name": "X", "email": "nowhere"})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "email"

    changed = await owner.patch(
        f"{API}/leads/{first['id']}", json={"status": "qualified", "title": "Buyer"}
    )
    assert (changed.json()["status"], changed.json()["title"]) == ("qualified", "Buyer")
    refused = await owner.post(f"{API}/leads/{first['id']}/disqualify", json={"reason": ""})
    assert refused.status_code == 422
    listed = await owner.get(f"{API}/leads", params={"q": "delta", "status": "open"})
    assert [i["id"] for i in listed.json()["items"]] == [first["id"]]

    converted = await owner.post(
        f"{API}/leads/{first['id']}/convert",
        json={"create_opportunity": True, "amount": "5000.00", "opportunity_name": "Drills"},
    )
    assert converted.status_code == 200, converted.text
    done = converted.json()
    assert done["lead"]["status"] == "converted"
    assert done["lead"]["customer_party_id"] == done["customer_id"]
    assert done["opportunity_id"] is not None
    customer = await owner.get(f"/api/t/acme/parties/{done['customer_id']}")
    assert (customer.json()["name"], customer.json()["is_customer"]) == ("Delta Tools", True)
    twice = await owner.post(f"{API}/leads/{first['id']}/convert", json={})
    assert twice.status_code == 409

    # The owner is a member of bolt too: acme's lead is still not found there.
    assert (await owner.get(f"/api/t/bolt/crm/leads/{first['id']}")).status_code == 404
    assert (await owner.get("/api/t/bolt/crm/leads")).json()["items"] == []


async def test_the_settings_api_manages_teams_rules_and_web_forms(
    db: Database,
    acme: TenantContext,
    bolt: TenantContext,
    owner: httpx.AsyncClient,
    browser: Browser,
) -> None:
    mia = await user(db, "Mia")
    await join(db, acme, mia)
    team = (await owner.post(f"{API}/teams", json={"name": "Inside sales"})).json()
    with_mia = await owner.post(
        f"{API}/teams/{team['id']}/members", json={"user_id": str(mia.id), "daily_cap": 3}
    )
    assert [(m["display_name"], m["daily_cap"]) for m in with_mia.json()["members"]] == [("Mia", 3)]
    rule = await owner.post(
        f"{API}/assignment-rules", json={"name": "Web", "team_id": team["id"], "source": "web_form"}
    )
    assert rule.status_code == 201, rule.text
    form = await owner.post(f"{API}/web-forms", json={"name": "Contact us"})
    assert form.status_code == 201
    assert re.fullmatch(r"[0-9a-f]{32}", form.json()["form_key"])
    assert form.json()["url"].endswith(f"/public/crm/forms/{form.json()['form_key']}")
    off = await owner.patch(f"{API}/web-forms/{form.json()['id']}", json={"active": False})
    assert off.json()["active"] is False
    assert (await owner.delete(f"{API}/assignment-rules/{rule.json()['id']}")).status_code == 204
    assert (await owner.get(f"{API}/assignment-rules")).json() == []
    taken = await owner.post(f"{API}/teams", json={"name": "Inside sales"})
    assert taken.status_code == 409

    # The owner is a member of bolt too: none of acme's are reachable there.
    elsewhere = "/api/t/bolt/crm"
    assert (await owner.get(f"{elsewhere}/web-forms")).json() == []
    assert (await owner.get(f"{elsewhere}/teams")).json() == []
    moved = await owner.patch(f"{elsewhere}/web-forms/{form.json()['id']}", json={"name": "X"})
    assert moved.status_code == 404
    joined = await owner.post(
        f"{elsewhere}/teams/{team['id']}/members", json={"user_id": str(mia.id)}
    )
    assert joined.status_code == 404

    as_mia = await browser(mia)
    assert (await as_mia.get(f"{API}/teams")).status_code == 403
    assert (await as_mia.post(f"{API}/web-forms", json={"name": "Mine"})).status_code == 403


# --- the pages --------------------------------------------------------------------------------


async def test_the_lead_pages_create_warn_of_duplicates_and_work_the_lead(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    empty = await owner.get(f"{PAGES}/leads", headers=HTML)
    assert empty.status_code == 200
    assert 'id="no-leads"' in empty.text
    assert 'href="/t/acme/imports?kind=crm.leads"' in empty.text

    form = await owner.get(f"{PAGES}/leads/new", headers=HTML)
    token = csrf(form)
    fields = {
        "_csrf_token": token,
        "name": "Chen Jie",
        "company_name": "Delta Tools",
        "email": "chen@delta.test",
        "source": "referral",
        "owner_id": str((await the_test_owner(db)).id),
    }
    made = await owner.post(f"{PAGES}/leads/new", data=fields, headers=HTML)
    assert made.status_code == 303, made.text
    lead_url = made.headers["location"]
    lead_id = lead_url.rsplit("/", 1)[1]

    live = await owner.get(
        f"{PAGES}/leads/duplicates", params={"company_name": "delta tools"}, headers=HTMX
    )
    assert f'id="duplicate-{lead_id}"' in live.text
    assert "same company" in live.text
    half_typed = await owner.get(f"{PAGES}/leads/duplicates", params={"email": "chen@"})
    assert "duplicate-notice" not in half_typed.text

    asked = await owner.post(f"{PAGES}/leads/new", data={**fields, "name": "Jie"}, headers=HTML)
    assert asked.status_code == 409
    assert f'id="duplicate-{lead_id}"' in asked.text
    assert 'id="create-anyway"' in asked.text
    assert 'value="Jie"' in asked.text
    blank = await owner.post(f"{PAGES}/leads/new", data={**fields, "name": ""}, headers=HTML)
    assert blank.status_code == 422
    assert "A lead's name has 1 to 200 characters." in blank.text
    assert 'aria-invalid="true"' in blank.text

    page = await owner.get(lead_url, headers=HTML)
    assert page.status_code == 200
    for shown in ('id="record-timeline"', 'id="record-attachments"', "Delta Tools", "Referral"):
        assert shown in page.text, shown
    token = csrf(page)
    status = await owner.post(
        f"{lead_url}/status", data={"_csrf_token": token, "status": "contacted"}, headers=HTML
    )
    assert status.status_code == 303
    reason = await owner.post(
        f"{lead_url}/disqualify", data={"_csrf_token": token, "reason": ""}, headers=HTML
    )
    assert reason.status_code == 422
    assert "Say why in 1 to 500 characters." in reason.text
    edited = await owner.post(
        f"{lead_url}/edit",
        data={**fields, "_csrf_token": token, "title": "Purchasing lead", "email": "bad"},
        headers=HTML,
    )
    assert edited.status_code == 422
    assert 'value="Purchasing lead"' in edited.text

    convert = await owner.get(f"{lead_url}/convert", headers=HTML)
    assert 'value="Delta Tools"' in convert.text
    done = await owner.post(
        f"{lead_url}/convert",
        data={
            "_csrf_token": csrf(convert),
            "customer_id": "",
            "company_name": "Delta Tools",
            "create_contact": "on",
            "amount": "abc",
        },
        headers=HTML,
    )
    assert done.status_code == 422  # "abc" is no amount: nothing converted
    assert 'value="abc"' in done.text
    done = await owner.post(
        f"{lead_url}/convert",
        data={"_csrf_token": csrf(convert), "company_name": "Delta Tools", "create_contact": "on"},
        headers=HTML,
    )
    assert done.status_code == 303
    converted = await owner.get(lead_url, headers=HTML)
    assert 'id="converted-notice"' in converted.text
    customer = re.search(r'href="(/t/acme/parties/[^"]+)" id="converted-customer"', converted.text)
    assert customer is not None
    party_page = await owner.get(customer.group(1), headers=HTML)
    assert "Converted from lead LD-" in party_page.text
    assert 'id="convert-lead"' not in converted.text  # nothing left to do with it


async def test_a_lead_the_rules_give_to_someone_else_leads_back_to_the_list(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    """A salesperson (own scope) types a lead in: with no rule for it, it is theirs and
    they land on its page; when a rule gives it to someone else, they land on the list
    with a notice, not on a 404."""
    mia, kai = await user(db, "Mia"), await user(db, "Kai")
    await join(db, acme, mia)
    await join(db, acme, kai)
    as_mia = await browser(mia)
    form = await as_mia.get(f"{PAGES}/leads/new", headers=HTML)
    fields = {"_csrf_token": csrf(form), "name": "Her own one", "source": "manual"}
    mine = await as_mia.post(f"{PAGES}/leads/new", data=fields, headers=HTML)
    assert mine.status_code == 303
    assert (await as_mia.get(mine.headers["location"], headers=HTML)).status_code == 200
    assert (await leads_of(db, acme))[0].owner_id == mia.id

    team = (await owner.post(f"{API}/teams", json={"name": "Inside sales"})).json()
    await owner.post(f"{API}/teams/{team['id']}/members", json={"user_id": str(kai.id)})
    await owner.post(
        f"{API}/assignment-rules", json={"name": "Typed", "team_id": team["id"], "source": "manual"}
    )
    theirs = await as_mia.post(
        f"{PAGES}/leads/new", data={**fields, "name": "Kai's one"}, headers=HTML
    )
    assert theirs.status_code == 303
    assert theirs.headers["location"].startswith("/t/acme/crm/leads?created=LD-")
    listed = await as_mia.get(theirs.headers["location"], headers=HTML)
    assert 'id="lead-created"' in listed.text
    assert (await leads_of(db, acme))[1].owner_id == kai.id


async def test_the_lead_settings_pages_refuse_beside_the_input_and_save(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    teams = await owner.get(f"{PAGES}/settings/teams", headers=HTML)
    assert teams.status_code == 200
    assert 'id="no-teams"' in teams.text
    token = csrf(teams)
    blank = await owner.post(
        f"{PAGES}/settings/teams", data={"_csrf_token": token, "name": " "}, headers=HTML
    )
    assert blank.status_code == 422
    assert "A name has 1 to 100 characters." in blank.text
    saved = await owner.post(
        f"{PAGES}/settings/teams", data={"_csrf_token": token, "name": "Sales"}, headers=HTML
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("?notice=saved")
    page = await owner.get(saved.headers["location"], headers=HTML)
    team_id = re.search(r'id="team-([0-9a-f-]{36})"', page.text).group(1)
    me = str((await the_test_owner(db)).id)
    capped = await owner.post(
        f"{PAGES}/settings/teams/{team_id}/members",
        data={"_csrf_token": token, "user_id": me, "daily_cap": "lots"},
        headers=HTML,
    )
    assert capped.status_code == 422
    assert "A daily cap is a whole number from 0 to 10000, or blank for none." in capped.text
    added = await owner.post(
        f"{PAGES}/settings/teams/{team_id}/members",
        data={"_csrf_token": token, "user_id": me, "daily_cap": "5"},
        headers=HTML,
    )
    assert added.status_code == 303
    shown = await owner.get(f"{PAGES}/settings/teams", headers=HTML)
    assert '<option value="5" selected>5</option>' in shown.text

    rules = await owner.get(f"{PAGES}/settings/assignment", headers=HTML)
    assert 'id="no-rules"' in rules.text
    rule = await owner.post(
        f"{PAGES}/settings/assignment",
        data={"_csrf_token": token, "name": "All", "priority": "x", "team_id": team_id},
        headers=HTML,
    )
    assert rule.status_code == 422
    assert "A priority is a whole number from 0 to 10000." in rule.text
    rule = await owner.post(
        f"{PAGES}/settings/assignment",
        data={"_csrf_token": token, "name": "All", "priority": "10", "team_id": team_id},
        headers=HTML,
    )
    assert rule.status_code == 303

    forms = await owner.get(f"{PAGES}/settings/web-forms", headers=HTML)
    assert 'id="no-web-forms"' in forms.text
    made = await owner.post(
        f"{PAGES}/settings/web-forms",
        data={"_csrf_token": token, "name": "Contact us", "source": "web_form", "team_id": ""},
        headers=HTML,
    )
    assert made.status_code == 303
    shown = await owner.get(f"{PAGES}/settings/web-forms", headers=HTML)
    assert re.search(r"/public/crm/forms/[0-9a-f]{32}", shown.text)
    assert "&lt;iframe src=" in shown.text

    # Every lead now goes to the team: a lead typed in without an owner is the owner's.
    form = await owner.get(f"{PAGES}/leads/new", headers=HTML)
    await owner.post(
        f"{PAGES}/leads/new",
        data={"_csrf_token": csrf(form), "name": "Ruled", "source": "manual"},
        headers=HTML,
    )
    assert [lead.owner_id for lead in await leads_of(db, acme)] == [(await the_test_owner(db)).id]


# --- the public web-to-lead form --------------------------------------------------------------


async def public_form(owner: httpx.AsyncClient, **fields) -> str:
    made = await owner.post(f"{API}/web-forms", json={"name": "Contact us", **fields})
    assert made.status_code == 201, made.text
    return made.json()["form_key"]


async def test_a_visitor_sends_the_public_form_and_a_lead_is_made(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, live: str
) -> None:
    team = (await owner.post(f"{API}/teams", json={"name": "Web"})).json()
    me = str((await the_test_owner(db)).id)
    await owner.post(f"{API}/teams/{team['id']}/members", json={"user_id": me})
    key = await public_form(owner, team_id=team["id"], source="advertising")
    async with httpx.AsyncClient(base_url=live) as visitor:
        shown = await visitor.get(f"/public/crm/forms/{key}", headers=HTML)
        assert shown.status_code == 200
        assert 'id="web-lead-form"' in shown.text
        assert "_csrf_token" not in shown.text
        assert 'id="topbar"' not in shown.text  # no workspace shell
        sent = await visitor.post(
            f"/public/crm/forms/{key}",
            data={"name": "Visitor", "email": "visitor@web.test", "notes": "Call me"},
            headers=HTML,
        )
        assert sent.status_code == 303
        thanks = await visitor.get(sent.headers["location"], headers=HTML)
        assert 'id="web-form-sent"' in thanks.text
        nothing = await visitor.post(
            f"/public/crm/forms/{key}", data={"name": "Visitor", "notes": "x"}, headers=HTML
        )
        assert nothing.status_code == 422
        assert "Leave an e-mail address or a phone number" in nothing.text
        assert 'value="Visitor"' in nothing.text
        bot = await visitor.post(
            f"/public/crm/forms/{key}",
            data={"name": "Bot", "email": "bot@spam.test", "website": "http://spam.test"},
            headers=HTML,
        )
        assert bot.status_code == 303  # thanked, and dropped
        unknown = await visitor.get("/public/crm/forms/0123456789abcdef", headers=HTML)
        assert unknown.status_code == 404
        assert "There is no form at this address." in unknown.text
    made = await leads_of(db, acme)
    assert [(lead.name, lead.source, str(lead.owner_id)) for lead in made] == [
        ("Visitor", "advertising", me)
    ]
    assert made[0].web_form_id is not None
    assert made[0].team_id is not None


async def test_the_public_form_is_throttled_per_form_and_address(
    acme: TenantContext, owner: httpx.AsyncClient, live: str
) -> None:
    key = await public_form(owner)
    async with httpx.AsyncClient(base_url=live) as visitor:
        for _typo in range(3):  # refused for the typing: not counted
            typo = await visitor.post(f"/public/crm/forms/{key}", data={"name": "V", "phone": "1"})
            assert typo.status_code == 422
        answers = [
            (
                await visitor.post(
                    f"/public/crm/forms/{key}",
                    data={"name": f"Visitor {n}", "phone": f"1380000000{n}"},
                    headers=HTML,
                )
            ).status_code
            for n in range(6)
        ]
        assert answers == [303] * 5 + [429]
        locked = await visitor.post(
            f"/public/crm/forms/{key}", data={"name": "Late", "phone": "13900000000"}, headers=HTML
        )
        assert locked.status_code == 429
        assert "Too many forms were sent from your network." in locked.text
        assert 'value="Late"' in locked.text
        other = await public_form(owner)  # another form from the same address still takes it
        fine = await visitor.post(
            f"/public/crm/forms/{other}", data={"name": "Other", "phone": "13900000001"}
        )
        assert fine.status_code == 303


async def test_the_public_form_says_plainly_when_it_takes_no_entries(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, live: str
) -> None:
    key = await public_form(owner)
    forms = (await owner.get(f"{API}/web-forms")).json()
    async with httpx.AsyncClient(base_url=live) as visitor:

        async def answers() -> tuple[int, int]:
            shown = await visitor.get(f"/public/crm/forms/{key}", headers=HTML)
            sent = await visitor.post(
                f"/public/crm/forms/{key}", data={"name": "V", "phone": "13800000000"}
            )
            if shown.status_code == 403:
                assert "This form is not taking entries at the moment." in shown.text
                assert "This form is not taking entries at the moment." in sent.text
            return shown.status_code, sent.status_code

        await owner.patch(f"{API}/web-forms/{forms[0]['id']}", json={"active": False})
        assert await answers() == (403, 403)
        await owner.patch(f"{API}/web-forms/{forms[0]['id']}", json={"active": True})
        assert await answers() == (200, 303)
        disabled = await owner.post("/api/t/acme/modules/crm/disable")
        assert disabled.status_code == 201, disabled.text
        assert await answers() == (403, 403)
        await owner.post("/api/t/acme/modules/crm/enable")
        async with db.global_transaction() as session:
            await session.execute(
                update(Tenant).where(Tenant.id == acme.tenant_id).values(status="suspended")
            )
        assert await answers() == (403, 403)
    assert [lead.name for lead in await leads_of(db, acme)] == ["V"]  # while it was open


# --- importing leads --------------------------------------------------------------------------

LEADS = csv_file(
    "姓名,公司,邮箱,电话,来源",
    "Chen Jie,Delta Tools,chen@delta.test,13812345678,展会",
    "Li Na,Echo Foods,li@echo.test,,Referral",
)


async def test_leads_import_through_the_core_pages_numbered_and_assigned(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, make_tenant
) -> None:
    team = (await owner.post(f"{API}/teams", json={"name": "Import"})).json()
    me = str((await the_test_owner(db)).id)
    await owner.post(f"{API}/teams/{team['id']}/members", json={"user_id": me})
    await owner.post(f"{API}/assignment-rules", json={"name": "All", "team_id": team["id"]})

    start = await owner.get("/t/acme/imports", params={"kind": "crm.leads"}, headers=HTML)
    assert 'id="kind-crm.leads"' in start.text
    sent = await upload(owner, LEADS, kind="crm.leads")
    assert sent.status_code == 303, sent.text
    mapping_page = await owner.get(sent.headers["location"], headers=HTML)
    assert '<option value="company_name" selected>' in mapping_page.text
    mapping = {
        f"column-{i}": key
        for i, key in enumerate(("name", "company_name", "email", "phone", "source"))
    }
    checked = await owner.post(
        f"{mapping_page.url.path}/check",
        data={"_csrf_token": csrf(mapping_page), **mapping},
        headers=HTML,
    )
    assert checked.status_code == 200, checked.text
    assert '<li id="good-rows">2 rows without errors</li>' in checked.text
    assert await leads_of(db, acme) == []  # the dry run wrote nothing
    done = await owner.post(
        f"{mapping_page.url.path}/run",
        data={"_csrf_token": csrf(mapping_page), **mapping},
        headers=HTML,
    )
    assert done.status_code == 200, done.text
    assert 'href="/t/acme/crm/leads"' in done.text
    made = await leads_of(db, acme)
    assert [(lead.name, lead.source, str(lead.owner_id)) for lead in made] == [
        ("Chen Jie", "exhibition", me),
        ("Li Na", "referral", me),
    ]
    # The dry run drew no numbers: the import's are the first two.
    assert [lead.number[-6:] for lead in made] == ["000001", "000002"]

    # The same file again: every row looks like a lead the workspace has.
    again = await owner.post(
        "/api/t/acme/imports/crm.leads",
        files={"file": LEADS},
        data={"mapping": json.dumps({"0": "name", "2": "email"}), "dry_run": "true"},
    )
    assert again.status_code == 200
    assert [e["text"] for e in again.json()["errors"]] == [
        f"This looks like {made[0].number}, which already exists.",
        f"This looks like {made[1].number}, which already exists.",
    ]
    await make_tenant("plain", owner_email=None)  # CRM off: no such import there
    off = await owner.post("/api/t/plain/imports/crm.leads/preview", files={"file": LEADS})
    assert off.status_code == 404
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(Party.id)) is None  # leads are not parties


# --- every lead form, walked -------------------------------------------------------------------


async def test_every_lead_form_refuses_bad_input_with_a_message_and_keeps_the_typing(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    """The sweep of tests/web/test_every_form.py over the lead pages and lead settings (its
    demo workspace has no CRM): 100,000 characters, everything empty, malformed values."""
    me = str((await the_test_owner(db)).id)
    await created(owner, name="Chen Jie", company_name="Delta Tools", owner_id=me)
    team = (await owner.post(f"{API}/teams", json={"name": "Sales"})).json()
    await owner.post(f"{API}/teams/{team['id']}/members", json={"user_id": me})
    await owner.post(f"{API}/assignment-rules", json={"name": "All", "team_id": team["id"]})
    await public_form(owner)
    mine = (
        f"{PAGES}/leads",
        *(f"{PAGES}/settings/{s}" for s in ("teams", "assignment", "web-forms")),
    )
    forms = [
        form
        for start in (f"{PAGES}/leads", f"{PAGES}/settings")
        for form in await walk(owner, [start], pages=4)
        if urlsplit(form.action).path.startswith(mine)
    ]
    assert len(forms) >= 10, [f.pattern for f in forms]
    assert not (problems := await refusals(owner, forms)), "\n".join(problems)
