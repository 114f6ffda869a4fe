"""Bad input over every sales form, found by walking the sales pages of a CRM workspace with
an opportunity (with a line) and a draft quote: the checks of ``tests/web/test_every_form.py``
(100,000 characters, every input empty, malformed values: refused with a message, the
typing shown again, never a 5xx), which walks a workspace without CRM."""

from __future__ import annotations

from decimal import Decimal

from core import roles
from core.db import Database
from modules.crm.schemas.sales import OpportunityLineIn, QuoteLineIn
from tests.conftest import Browser
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_opportunities import customer, deal, product
from tests.modules.crm.test_quotes import quote
from tests.web.test_every_form import refusals, walk
from tests.web.test_parties_api import the_test_owner


async def test_every_sales_form_refuses_bad_input_with_a_message_and_keeps_the_typing(
    db: Database, floor: SalesFloor, browser: Browser
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    await deal(floor, admin, party, lines=(OpportunityLineIn(product_id=tea, quantity=Decimal(1)),))
    await quote(floor, admin, party, QuoteLineIn(product_id=tea, quantity=Decimal(1)))
    http = await browser(await the_test_owner(db))
    starts = [
        "/t/acme/crm/opportunities",
        "/t/acme/crm/opportunities/board",
        "/t/acme/crm/quotes",
        "/t/acme/crm/settings/pipelines",
    ]
    found = {}
    for start in starts:  # a walk follows the links under its first address
        for form in await walk(http, [start], limit=40, pages=1):
            if any(f"/crm/{area}" in form.action for area in ("opportunities", "quotes")) or (
                "/crm/settings/pipelines" in form.action
            ):
                found.setdefault(form.pattern, form)
    forms = list(found.values())
    assert len(forms) >= 12, [f.pattern for f in forms]
    assert not (problems := await refusals(http, forms)), "\n".join(problems)
