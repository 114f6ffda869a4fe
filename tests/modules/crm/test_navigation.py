"""The menu's one CRM entry: shown to whoever may open a CRM tab, and ``/crm`` opens the
first tab they may open (the tabs lead to the rest)."""

from __future__ import annotations

import httpx

from core import roles
from core.db import Database
from core.models import User
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.web.test_parties_api import HTML, the_test_owner


async def signed_in(db: Database, browser: Browser, user_id) -> httpx.AsyncClient:
    async with db.global_transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None
    return await browser(user)


async def test_the_crm_entry_opens_the_first_tab_the_member_may_see(
    db: Database, floor: SalesFloor, browser: Browser
) -> None:
    owner = await browser(await the_test_owner(db))
    home = await owner.get("/t/acme/", headers=HTML)
    assert 'href="/t/acme/crm"' in home.text
    assert 'href="/t/acme/crm/leads"' not in home.text  # the tabs are on CRM's pages
    opened = await owner.get("/t/acme/crm", headers=HTML)
    assert (opened.status_code, opened.headers["location"]) == (303, "/t/acme/crm/leads")
    leads = await owner.get("/t/acme/crm/leads", headers=HTML)
    tabs = leads.text.split('id="crm-tabs"')[1].split("</nav>")[0]
    for path in ("leads", "customers", "pool", "opportunities", "reports", "settings"):
        assert f'href="/t/acme/crm/{path}"' in tabs

    wei = await floor.member("Wei", role=roles.MEMBER)
    as_wei = await signed_in(db, browser, wei.user_id)
    assert 'href="/t/acme/crm"' in (await as_wei.get("/t/acme/", headers=HTML)).text
    leads = await as_wei.get("/t/acme/crm/leads", headers=HTML)
    assert 'href="/t/acme/crm/settings"' not in leads.text  # not a tab a salesperson has
