"""The approvals waiting page under core's default rule: an owner or admin follows the
menu's count to the pending requests (oldest first, with the kind, amount, who asked and
a link to the record, where it is decided); a member is told nothing waits for them;
another workspace's requests never show."""

from __future__ import annotations

from decimal import Decimal

import httpx

from core import approvals
from core.context import TenantContext
from core.db import Database
from core.orm import uuid7
from core.plugins.registry import ModuleRegistry
from tests.conftest import Browser
from tests.web.test_parties_api import HTML, join, the_test_owner, user


async def ask(
    db: Database, registry: ModuleRegistry, ctx: TenantContext, requester, amount: str
) -> object:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        request = await approvals.request_approval(
            session,
            ctx,
            registry,
            kind="sample.note",
            subject_type="sample.note",
            subject_id=uuid7(),
            requester_id=requester.id,
            amount=Decimal(amount),
        )
        return request.subject_id


async def test_owners_see_what_waits_and_members_are_told_nothing_waits_for_them(
    db: Database, registry: ModuleRegistry, make_tenant, browser: Browser
) -> None:
    acme = await make_tenant("acme", "sample")
    other = await make_tenant("other", "sample")
    owner = await the_test_owner(db)
    mia = await user(db, "Mia")
    await join(db, acme, mia)
    as_owner = await browser(owner)

    empty = await as_owner.get("/t/acme/approvals", headers=HTML)
    assert 'id="nothing-waiting"' in empty.text
    first = await ask(db, registry, acme, mia, "1200.50")
    second = await ask(db, registry, acme, owner, "80")
    await ask(db, registry, other, owner, "999")  # another workspace's

    home = await as_owner.get("/t/acme/", headers=HTML)
    assert 'href="/t/acme/approvals"' in home.text
    page = await as_owner.get("/t/acme/approvals", headers=HTML)
    assert page.status_code == 200
    rows = page.text.split('id="approval-list"')[1].split("</table>")[0].split("<tr>")[2:]
    assert len(rows) == 2  # oldest first, the other workspace's left out
    assert f'href="/t/acme/sample/{first}"' in rows[0]
    for shown in ("Note approval", "1,200.5", "Mia"):
        assert shown in rows[0]
    assert f'href="/t/acme/sample/{second}"' in rows[1]
    assert "999" not in page.text

    as_mia: httpx.AsyncClient = await browser(mia)
    hers = await as_mia.get("/t/acme/approvals", headers=HTML)
    assert hers.status_code == 200
    assert 'id="not-an-approver"' in hers.text
    assert "Note approval" not in hers.text
