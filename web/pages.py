"""The public front page, and core workspace pages and API: the dashboard and global search.

The dashboard and search gather contributions from the tenant's enabled modules through hooks
(:mod:`core.contributions`); handlers stay thin and templates only display.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from billing import catalogue
from core import contributions
from core import search as core_search
from core.i18n import N_, gettext
from core.records import access
from web import onboarding
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry


class SearchHit(msgspec.Struct):
    title: str
    url: str
    module: str
    kind: str


class PanelOut(msgspec.Struct):
    title: str
    module_template: str
    order: int


#: What a module without a price in the catalogue (:mod:`billing.catalogue`) costs.
EARLY_ACCESS_PRICE = N_("Free while Atrium is in early access")


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any], registry: Registry) -> Template:
    """Atrium's front door: what it is, where to sign up, and which modules this installation
    offers (install order: a module after those it depends on), with what each costs."""
    async with request.app.state.db.global_transaction() as session:
        prices = await catalogue.shown_prices(session)
    modules = [
        {
            "key": m.manifest.key,
            "name": m.manifest.name,
            "summary": m.manifest.summary,
            "depends": [gettext(registry.manifest(key).name) for key in m.manifest.depends],
            "price": prices[m.manifest.key].text
            if m.manifest.key in prices
            else gettext(EARLY_ACCESS_PRICE),
        }
        for m in registry.modules.values()
    ]
    return Template("index.html", context={"modules": modules})


@get("/")
async def dashboard(
    request: Request[Any, Any, Any],
    tenant: CurrentTenant,
    session: DbSession,
    registry: Registry,
    actor: CurrentActor,
) -> Template:
    widgets = await contributions.dashboard(registry, tenant, session)
    checklist = await onboarding.checklist(request, session, tenant, actor)
    return Template("dashboard.html", context={"widgets": widgets, "checklist": checklist})


@get("/search")
async def search_page(
    tenant: CurrentTenant,
    session: DbSession,
    registry: Registry,
    actor: CurrentActor,
    q: FromQuery[str] = "",
) -> Template:
    results = await contributions.search(registry, tenant, session, actor, q)
    return Template(
        "search.html", context={"query": q.strip(), "groups": core_search.by_kind(results)}
    )


@get("/search", summary="Search core's parties and products and every enabled module")
async def search_api(
    tenant: CurrentTenant,
    session: DbSession,
    registry: Registry,
    actor: CurrentActor,
    q: FromQuery[str] = "",
) -> list[SearchHit]:
    """What the member may see matching ``q``, best first (at most ten per source)."""
    results = await contributions.search(registry, tenant, session, actor, q)
    return [SearchHit(r.title, r.url, r.module, r.kind) for r in results]


@get("/records/{record_type:str}/{record_id:uuid}/panels", summary="Panels for a record page")
async def record_panels_api(
    tenant: CurrentTenant,
    session: DbSession,
    registry: Registry,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
) -> list[PanelOut]:
    """What enabled modules show on the record's page; the record type's read permission
    and the record in the member's scope are needed, as for the page itself."""
    await access.open_record(session, registry, tenant, actor, record_type, record_id)
    panels = await contributions.record_panels(
        registry, tenant, session, actor, record_type, record_id
    )
    return [PanelOut(p.title, p.template, p.order) for p in panels]


PAGES = [dashboard, search_page]
API = [search_api, record_panels_api]
