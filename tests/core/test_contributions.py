"""Per-request hooks through the live app: only the tenant's enabled modules contribute.

Dashboard widgets, global search and record panels are asked of the sample
module over HTTP; module enablement hooks run inside the enabling request's
transaction; the approval port takes the add-on's engine when the tenant has
the add-on and core's default rule when it does not. Together with the
registry tests these call every hook (``tests/core/test_hookspecs.py`` checks).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import approvals, contributions, roles
from core import search as contributions_search
from core.context import TenantContext
from core.db import Database
from core.errors import Conflict, TenantMismatchError, ValidationFailed
from core.models import Membership, OutboxEvent, User
from core.parties import services as parties
from core.parties.schemas import ContactPointIn, PartyIn
from core.permissions import Actor, Scope
from core.plugins.registry import ModuleRegistry
from core.plugins.results import SearchResult, WidgetData
from core.products import services as catalogue
from core.tenancy import enabled_modules
from tenants import services
from tests.sample_module.models import SampleEffect
from tests.sample_module.services import NoteService

HTML = {"Accept": "text/html"}
TITLES = ("Plan the quarter", "Call the supplier", "Quarterly review")


async def add_notes(db: Database, ctx: TenantContext, *titles: str) -> list[uuid.UUID]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return [(await NoteService(session).create(title)).id for title in titles]


async def owner_id(session: AsyncSession) -> uuid.UUID:
    user_id = await session.scalar(select(Membership.user_id).where(Membership.role == "owner"))
    assert user_id is not None
    return user_id


@pytest.fixture
async def tenants(db: Database, registry: ModuleRegistry, make_tenant):
    """``alpha`` has the sample module and three notes; ``bravo`` had it, wrote two notes,
    then switched it off (its notes are kept); ``charlie`` never had it."""
    alpha = await make_tenant("alpha", "sample", owner_email="owner@alpha.test")
    await add_notes(db, alpha, *TITLES)
    bravo = await make_tenant("bravo", "sample", owner_email="owner@bravo.test")
    await add_notes(db, bravo, "Plan the quarter", "Bravo's own note")
    async with db.tenant_transaction(bravo.tenant_id) as session:
        bravo = await services.disable_module(session, registry, bravo, "sample")
    charlie = await make_tenant("charlie", owner_email="owner@charlie.test")
    return alpha, bravo, charlie


# --- dashboard widgets --------------------------------------------------------------------------


async def test_dashboard_shows_the_sample_widget(client: httpx.AsyncClient, tenants) -> None:
    page = await client.get("/t/alpha/", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<section class="card" id="widget-sample-count">' in page.text
    assert "<h2>Notes</h2>" in page.text
    assert '<p class="widget-figure">' in page.text


async def test_dashboard_widget_shows_the_note_count(client: httpx.AsyncClient, tenants) -> None:
    page = await client.get("/t/alpha/", headers=HTML)
    assert '<p class="widget-figure">3</p>' in page.text


async def test_dashboard_data_equals_the_note_count(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha, bravo, _ = tenants
    await add_notes(db, alpha, "A fourth note")
    async with db.tenant_transaction(alpha.tenant_id) as session:
        widgets = await contributions.dashboard(registry, alpha, session)
    assert [(w.module, w.declared.key) for w in widgets] == [("sample", "sample.count")]
    assert widgets[0].data == WidgetData("sample.count", {"count": 4})
    assert widgets[0].declared == registry.manifest("sample").dashboard_widgets[0]
    async with db.tenant_transaction(bravo.tenant_id) as session:
        assert await NoteService(session).count() == 2  # the data is there...
        assert await contributions.dashboard(registry, bravo, session) == []  # ...not shown


@pytest.mark.parametrize("slug", ["bravo", "charlie"])
async def test_dashboard_without_the_module_has_no_widget(
    client: httpx.AsyncClient, tenants, slug: str
) -> None:
    page = await client.get(f"/t/{slug}/", headers=HTML)
    assert page.status_code == 200
    assert "widget-sample-count" not in page.text
    assert "widget-figure" not in page.text
    assert "Enable a module to see its figures here." in page.text


# --- global search --------------------------------------------------------------------------


async def test_search_finds_the_note_by_title(client: httpx.AsyncClient, tenants) -> None:
    found = await client.get("/api/t/alpha/search", params={"q": "supplier"})
    assert found.status_code == 200
    assert found.json() == [
        {
            "title": "Call the supplier",
            "url": "/t/alpha/sample/",
            "module": "sample",
            "kind": "note",
        }
    ]
    several = await client.get("/api/t/alpha/search", params={"q": "QUARTER"})
    assert sorted(hit["title"] for hit in several.json()) == [
        "Plan the quarter",
        "Quarterly review",
    ]
    assert (await client.get("/api/t/alpha/search", params={"q": "invoice"})).json() == []
    assert (await client.get("/api/t/alpha/search", params={"q": "  "})).json() == []


async def test_search_page_lists_the_hits(client: httpx.AsyncClient, tenants) -> None:
    page = await client.get("/t/alpha/search", params={"q": "supplier"}, headers=HTML)
    assert page.status_code == 200
    assert '<a href="/t/alpha/sample/">Call the supplier</a>' in page.text
    assert "Plan the quarter" not in page.text


@pytest.mark.parametrize("slug", ["bravo", "charlie"])
async def test_search_without_the_module_finds_nothing(
    client: httpx.AsyncClient, tenants, slug: str
) -> None:
    # bravo has a note titled "Plan the quarter", but its module is off.
    found = await client.get(f"/api/t/{slug}/search", params={"q": "quarter"})
    assert found.status_code == 200
    assert found.json() == []
    page = await client.get(f"/t/{slug}/search", params={"q": "quarter"}, headers=HTML)
    assert "Nothing found." in page.text


async def test_search_stays_inside_the_tenant(
    client: httpx.AsyncClient, db: Database, make_tenant, tenants
) -> None:
    delta = await make_tenant("delta", "sample")
    await add_notes(db, delta, "Delta's secret plan")
    assert (await client.get("/api/t/alpha/search", params={"q": "secret"})).json() == []
    hits = (await client.get("/api/t/delta/search", params={"q": "plan"})).json()
    assert hits == [
        {
            "title": "Delta's secret plan",
            "url": "/t/delta/sample/",
            "module": "sample",
            "kind": "note",
        }
    ]


# --- global search: core's parties and products, as the member may see them ----------------


async def acting_member(
    db: Database, registry: ModuleRegistry, ctx: TenantContext, name: str, role: str
) -> Actor:
    """A new member of ``ctx`` with a built-in role, as the tenant guard would see them."""
    async with db.global_transaction() as session:
        user = User(email=f"{name.lower()}.{uuid.uuid4().hex[:6]}@search.test", display_name=name)
        session.add(user)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        membership = Membership(user_id=user.id, role=role)
        session.add(membership)
    granted = roles.rights(registry, role, [])
    return Actor(
        tenant_id=ctx.tenant_id,
        user_id=user.id,
        membership_id=membership.id,
        permissions=granted.permissions,
        scopes=granted.scopes,
    )


def party(name: str, **fields) -> PartyIn:
    return PartyIn(kind="company", name=name, **fields)


async def search_as(
    db: Database, registry: ModuleRegistry, ctx: TenantContext, actor: Actor, query: str
) -> list[SearchResult]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await contributions.search(registry, ctx, session, actor, query)


async def test_core_search_finds_the_members_own_party_not_a_colleagues(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha = tenants[0]
    mei = await acting_member(db, registry, alpha, "Mei", roles.MEMBER)
    ken = await acting_member(db, registry, alpha, "Ken", roles.MEMBER)
    boss = await acting_member(db, registry, alpha, "Boss", roles.ADMIN)
    assert mei.scope("core.party") is Scope.OWN
    async with db.tenant_transaction(alpha.tenant_id) as session:
        mine = await parties.create_party(
            session,
            mei,
            party(
                "Harbour Logistics",
                tax_id="91310000MA1K4",
                contact_points=(
                    ContactPointIn(kind="email", value="ops@harbour.test"),
                    ContactPointIn(kind="phone", value="+86 138 0013 8000"),
                ),
            ),
        )
        await parties.create_party(session, ken, party("Harbour Foods"))

    hits = await search_as(db, registry, alpha, mei, "harbour")
    assert hits == [
        SearchResult("Harbour Logistics", f"/t/alpha/parties/{mine.id}", "core", "party", 2.0)
    ]
    for typed in ("ops@harbour.test", "91310000ma1k4", "0013 8000", "logistics"):
        assert [h.title for h in await search_as(db, registry, alpha, mei, typed)] == [
            "Harbour Logistics"
        ], typed
    assert [h.title for h in await search_as(db, registry, alpha, ken, "harbour")] == [
        "Harbour Foods"
    ]
    assert [h.title for h in await search_as(db, registry, alpha, boss, "harbour")] == [
        "Harbour Foods",
        "Harbour Logistics",
    ]

    # Without core.party.read no party is found, even one's own.
    products_only = replace(mei, permissions=frozenset({"core.product.read"}))
    assert await search_as(db, registry, alpha, products_only, "harbour") == []


async def test_core_search_finds_a_product_by_sku_name_or_barcode(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha = tenants[0]
    mei = await acting_member(db, registry, alpha, "Mei", roles.MEMBER)
    async with db.tenant_transaction(alpha.tenant_id) as session:
        piece = await catalogue.create_unit(session, "pcs", "Piece", "unit")
        m8 = await catalogue.create_product(
            session, sku="BOLT-M8", name="Hex bolt M8", uom_id=piece.id, barcode="4006381333931"
        )
        await catalogue.create_product(session, sku="BOLT-M10", name="Hex bolt", uom_id=piece.id)
    bolt = SearchResult(
        "Hex bolt M8 (BOLT-M8)", f"/t/alpha/products/{m8.id}", "core", "product", 3.0
    )
    assert (await search_as(db, registry, alpha, mei, "bolt-m8")) == [bolt]
    assert (await search_as(db, registry, alpha, mei, "4006381333931")) == [bolt]
    # A whole match ranks first, then a prefix, then the rest.
    ranked = await search_as(db, registry, alpha, mei, "hex bolt")
    assert [(h.title, h.score) for h in ranked] == [
        ("Hex bolt (BOLT-M10)", 3.0),
        ("Hex bolt M8 (BOLT-M8)", 2.0),
    ]
    no_catalogue = replace(mei, permissions=mei.permissions - {"core.product.read"})
    assert await search_as(db, registry, alpha, no_catalogue, "bolt-m8") == []


async def test_core_search_never_shows_another_tenants_party(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha, bravo, _ = tenants
    alpha_admin = await acting_member(db, registry, alpha, "Ada", roles.ADMIN)
    bravo_admin = await acting_member(db, registry, bravo, "Bo", roles.ADMIN)
    async with db.tenant_transaction(bravo.tenant_id) as session:
        await parties.create_party(session, bravo_admin, party("Zephyr Trading"))
    assert await search_as(db, registry, alpha, alpha_admin, "zephyr") == []
    found = await search_as(db, registry, bravo, bravo_admin, "zephyr")
    assert [(h.title, h.module, h.kind) for h in found] == [("Zephyr Trading", "core", "party")]
    # An actor of one workspace is refused in another's session, not served its rows.
    with pytest.raises(TenantMismatchError):
        await search_as(db, registry, alpha, bravo_admin, "zephyr")


async def test_a_disabled_module_adds_nothing_to_core_results(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha, bravo, _ = tenants
    bravo_admin = await acting_member(db, registry, bravo, "Bo", roles.ADMIN)
    async with db.tenant_transaction(bravo.tenant_id) as session:
        await parties.create_party(session, bravo_admin, party("Quarterdeck Marine"))
    # bravo's "Plan the quarter" note is kept, but the sample module is off.
    found = await search_as(db, registry, bravo, bravo_admin, "quarter")
    assert [(h.title, h.module) for h in found] == [("Quarterdeck Marine", "core")]
    alpha_admin = await acting_member(db, registry, alpha, "Ada", roles.ADMIN)
    assert {h.module for h in await search_as(db, registry, alpha, alpha_admin, "quarter")} == {
        "sample"
    }


async def test_the_module_hook_gets_the_searching_member(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha = tenants[0]
    admin = await acting_member(db, registry, alpha, "Ada", roles.ADMIN)
    member = await acting_member(db, registry, alpha, "Mei", roles.MEMBER)
    assert [h.title for h in await search_as(db, registry, alpha, admin, "supplier")] == [
        "Call the supplier"
    ]
    assert not member.can("sample.note.read")  # the sample module answers only with it
    assert await search_as(db, registry, alpha, member, "supplier") == []


async def test_an_empty_query_finds_nothing(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha = tenants[0]
    admin = await acting_member(db, registry, alpha, "Ada", roles.ADMIN)
    async with db.tenant_transaction(alpha.tenant_id) as session:
        await parties.create_party(session, admin, party("Anything Ltd"))
    for blank in ("", "   ", "\t"):
        assert await search_as(db, registry, alpha, admin, blank) == []


async def test_each_source_gives_its_ten_best(
    db: Database, registry: ModuleRegistry, tenants
) -> None:
    alpha = tenants[0]
    admin = await acting_member(db, registry, alpha, "Ada", roles.ADMIN)
    await add_notes(db, alpha, *(f"Lotus note {n:02}" for n in range(12)))
    async with db.tenant_transaction(alpha.tenant_id) as session:
        for n in range(12):
            await parties.create_party(session, admin, party(f"Big Lotus {n:02}"))
        await parties.create_party(session, admin, party("Lotus"))
    found = await search_as(db, registry, alpha, admin, "lotus")
    by_module = Counter(h.module for h in found)
    assert by_module == {"core": contributions_search.PER_SOURCE, "sample": 10}
    assert found[0].title == "Lotus"  # the whole match first, though "Big Lotus" sorts before


# --- record panels --------------------------------------------------------------------------


async def test_record_panels_for_a_user_page(
    client: httpx.AsyncClient, db: Database, tenants
) -> None:
    alpha, _, _ = tenants
    async with db.tenant_transaction(alpha.tenant_id) as session:
        user_id = await owner_id(session)
    panels = await client.get(f"/api/t/alpha/records/core.user/{user_id}/panels")
    assert panels.status_code == 200
    assert panels.json() == [
        {"title": "Notes", "module_template": "sample/widget.html", "order": 50}
    ]
    # The sample module only contributes to user pages.
    party = await client.post("/api/t/alpha/parties", json={"kind": "company", "name": "Acme"})
    other = await client.get(f"/api/t/alpha/records/core.party/{party.json()['id']}/panels")
    assert other.json() == []
    # Panels are asked for only for a record the member may open (core.records.access).
    unknown = await client.get(f"/api/t/alpha/records/core.party/{uuid.uuid4()}/panels")
    assert unknown.status_code == 404


@pytest.mark.parametrize("slug", ["bravo", "charlie"])
async def test_record_panels_without_the_module(
    client: httpx.AsyncClient, db: Database, tenants, slug: str
) -> None:
    ctx = {"bravo": tenants[1], "charlie": tenants[2]}[slug]
    async with db.tenant_transaction(ctx.tenant_id) as session:
        user_id = await owner_id(session)
    panels = await client.get(f"/api/t/{slug}/records/core.user/{user_id}/panels")
    assert panels.status_code == 200
    assert panels.json() == []


# --- module enabled / disabled --------------------------------------------------------------


async def effects_in(session: AsyncSession) -> Counter[tuple[str, str]]:
    rows = await session.execute(
        select(SampleEffect.source, SampleEffect.detail).where(
            SampleEffect.source.in_(("module_enabled", "module_disabled"))
        )
    )
    return Counter((row.source, row.detail) for row in rows)


async def effects(db: Database, ctx: TenantContext) -> Counter[tuple[str, str]]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await effects_in(session)


async def test_enable_and_disable_hooks_run_in_the_request(
    client: httpx.AsyncClient, db: Database, make_tenant
) -> None:
    echo = await make_tenant("echo")
    assert await effects(db, echo) == Counter()

    # Enabling the add-on enables sample first; sample's hook hears of both.
    enabled = await client.post("/api/t/echo/modules/sampleaddon/enable")
    assert enabled.status_code == 201, enabled.text
    assert enabled.json() == {"enabled": ["sample", "sampleaddon"]}
    expected = Counter({("module_enabled", "sample"): 1, ("module_enabled", "sampleaddon"): 1})
    assert await effects(db, echo) == expected
    note = (await client.post("/api/t/echo/sample/notes/", json={"title": "Kept"})).json()

    # Refused while the add-on depends on it: no hook runs, nothing is written.
    refused = await client.post("/api/t/echo/modules/sample/disable")
    assert refused.status_code == 409
    assert await effects(db, echo) == expected

    # Sample is still on while the add-on goes off, so it hears of it.
    off = await client.post("/api/t/echo/modules/sampleaddon/disable")
    assert off.json() == {"enabled": ["sample"]}
    expected[("module_disabled", "sampleaddon")] += 1
    assert await effects(db, echo) == expected

    # A module hears of its own disabling (inside the disabling transaction).
    off = await client.post("/api/t/echo/modules/sample/disable")
    assert off.json() == {"enabled": []}
    expected[("module_disabled", "sample")] += 1
    assert await effects(db, echo) == expected
    blocked = await client.get(f"/api/t/echo/sample/notes/{note['id']}")
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "module_disabled"

    # Enabling again brings the hook (and the kept note) back.
    again = await client.post("/api/t/echo/modules/sample/enable")
    assert again.json() == {"enabled": ["sample"]}
    expected[("module_enabled", "sample")] += 1
    assert await effects(db, echo) == expected
    kept = await client.get(f"/api/t/echo/sample/notes/{note['id']}")
    assert kept.status_code == 200
    assert kept.json()["title"] == "Kept"


async def test_enable_hook_runs_in_the_enabling_transaction(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    foxtrot = await make_tenant("foxtrot")

    class Abort(Exception):
        pass

    async def enable_then_fail() -> None:
        async with db.tenant_transaction(foxtrot.tenant_id) as session:
            after = await services.enable_module(session, registry, foxtrot, "sample")
            assert after.enabled == frozenset({"sample"})
            assert await effects_in(session) == Counter({("module_enabled", "sample"): 1})
            raise Abort

    with pytest.raises(Abort):
        await enable_then_fail()
    # Rolled back together: neither the enablement nor the hook's effect remains.
    assert await effects(db, foxtrot) == Counter()
    async with db.tenant_transaction(foxtrot.tenant_id) as session:
        assert await enabled_modules(session) == frozenset()
        await services.enable_module(session, registry, foxtrot, "sample")
    assert await effects(db, foxtrot) == Counter({("module_enabled", "sample"): 1})


# --- the approval engine --------------------------------------------------------------------


async def decided_events(session: AsyncSession) -> dict[str, bool]:
    rows = await session.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type == approvals.ApprovalDecided.type_name)
    )
    return {row.payload["request_id"]: row.payload["approved"] for row in rows}


async def test_the_addon_engine_decides_when_the_tenant_has_the_addon(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    golf = await make_tenant("golf", "sample", "sampleaddon", owner_email="owner@golf.test")
    async with db.tenant_transaction(golf.tenant_id) as session:
        requester = await owner_id(session)
        note = await NoteService(session).create("Buy a boat")
        ask = {
            "kind": "sample.note",
            "subject_type": "sample.note",
            "subject_id": note.id,
            "requester_id": requester,
            "amount": Decimal("12500.00"),
        }
        yes = await approvals.request_approval(session, golf, registry, fields={"ok": True}, **ask)
        no = await approvals.request_approval(session, golf, registry, fields={"ok": False}, **ask)
        assert (yes.engine, yes.status, yes.comment) == (
            "sampleaddon",
            "approved",
            "decided by the addon",
        )
        assert (no.engine, no.status) == ("sampleaddon", "rejected")
        assert yes.decided_by is None
        assert await decided_events(session) == {str(yes.id): True, str(no.id): False}
        # The engine owns its requests: core's approvers cannot decide them.
        with pytest.raises(Conflict):
            await approvals.decide(session, no.id, approver_id=requester, approve=True)
        with pytest.raises(ValidationFailed):
            await approvals.request_approval(session, golf, registry, **{**ask, "kind": "x.y"})


async def test_without_the_addon_core_default_rule_decides(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    hotel = await make_tenant("hotel", "sample", "sampleaddon", owner_email="owner@hotel.test")
    async with db.tenant_transaction(hotel.tenant_id) as session:
        hotel = await services.disable_module(session, registry, hotel, "sampleaddon")
    assert hotel.enabled == frozenset({"sample"})
    async with db.tenant_transaction(hotel.tenant_id) as session:
        requester = await owner_id(session)
        ask = {
            "kind": "sample.note",
            "subject_type": "sample.note",
            "subject_id": uuid.uuid4(),
            "requester_id": requester,
            "fields": {"ok": True},  # the add-on would approve this at once
        }
        # No policy: the request waits for an owner or admin.
        pending = await approvals.request_approval(
            session, hotel, registry, amount=Decimal("50"), **ask
        )
        assert (pending.engine, pending.status) == ("core", "pending")
        assert await decided_events(session) == {}
        done = await approvals.decide(session, pending.id, approver_id=requester, approve=False)
        assert (done.status, done.decided_by) == ("rejected", requester)

        # Below the tenant's auto-approval amount, the rule approves at once.
        await approvals.set_policy(session, Decimal("100"))
        small = await approvals.request_approval(
            session, hotel, registry, amount=Decimal("99.99"), **ask
        )
        assert (small.engine, small.status, small.comment) == (
            "core",
            "approved",
            "Approved automatically: the amount is below the workspace's limit.",
        )
        large = await approvals.request_approval(
            session, hotel, registry, amount=Decimal("100"), **ask
        )
        assert (large.engine, large.status) == ("core", "pending")
        assert await decided_events(session) == {str(pending.id): False, str(small.id): True}
