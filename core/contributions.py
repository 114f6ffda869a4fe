"""Per-request contributions from the tenant's enabled modules.

Each function calls one hook through ``registry.hooks_for(ctx.enabled)``, so
a disabled module contributes nothing, and combines the results the way the
hook's docstring says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core import search as core_search
from core.context import TenantContext
from core.i18n import N_
from core.permissions import Actor
from core.plugins.calls import collect, resolve
from core.plugins.manifest import DashboardWidget, MenuEntry
from core.plugins.registry import ModuleRegistry
from core.plugins.results import Panel, SearchResult, WidgetData


@dataclass(frozen=True, slots=True)
class Widget:
    """A declared widget with the data its module supplied for this request."""

    module: str
    declared: DashboardWidget
    data: WidgetData


#: Core's own pages in every workspace: the shared master data and the members.
CORE_MENU = (
    MenuEntry(N_("Customers and suppliers"), "/parties", permission="core.party.read", order=10),
    MenuEntry(N_("Products"), "/products", permission="core.product.read", order=20),
    MenuEntry(N_("Apps"), "/apps", order=800),  # every member reads the app store
    MenuEntry(N_("Members"), "/members", permission="core.member.read", order=900),
    MenuEntry(N_("Departments"), "/departments", permission="core.member.read", order=910),
    MenuEntry(N_("Roles"), "/roles", permission="core.role.manage", order=920),
    MenuEntry(N_("Audit log"), "/audit", permission="core.audit.read", order=950),
    MenuEntry(N_("Settings"), "/settings", permission="core.settings.manage", order=990),
)


def menu(registry: ModuleRegistry, ctx: TenantContext) -> list[tuple[str, MenuEntry]]:
    """Core's entries and the enabled modules', by order (then install and entry order)."""
    entries = [("core", entry) for entry in CORE_MENU]
    entries += [
        (key, entry)
        for key, loaded in registry.modules.items()
        if key in ctx.enabled
        for entry in loaded.manifest.menu
    ]
    return sorted(entries, key=lambda pair: pair[1].order)


async def dashboard(
    registry: ModuleRegistry, ctx: TenantContext, session: AsyncSession
) -> list[Widget]:
    declared = {
        widget.key: (key, widget)
        for key, loaded in registry.modules.items()
        if key in ctx.enabled
        for widget in loaded.manifest.dashboard_widgets
    }
    hooks = registry.hooks_for(ctx.enabled)
    supplied: list[WidgetData] = await collect(
        hooks.atrium_dashboard_widgets(ctx=ctx, session=session)
    )
    return [
        Widget(declared[data.key][0], declared[data.key][1], data)
        for data in supplied
        if data.key in declared  # a widget nobody declared is not shown
    ]


async def search(
    registry: ModuleRegistry,
    ctx: TenantContext,
    session: AsyncSession,
    actor: Actor,
    query: str,
) -> list[SearchResult]:
    """Core's parties and products and the enabled modules' hits for ``query``, as
    ``actor`` may see them: each source's best few (:data:`core.search.PER_SOURCE`),
    then all ranked by score (core's first among equals). A blank query finds nothing."""
    query = query.strip()
    if not query:
        return []
    hooks = registry.hooks_for(ctx.enabled)
    per_module = await resolve(
        hooks.atrium_global_search(ctx=ctx, session=session, actor=actor, query=query)
    )
    results = await core_search.search_core(ctx, session, actor, query)
    for hits in per_module:
        results += core_search.best(hits or [])
    return sorted(results, key=lambda r: -r.score)


async def record_panels(
    registry: ModuleRegistry,
    ctx: TenantContext,
    session: AsyncSession,
    actor: Actor,
    record_type: str,
    record_id: uuid.UUID,
) -> list[Panel]:
    hooks = registry.hooks_for(ctx.enabled)
    panels: list[Panel] = await collect(
        hooks.atrium_record_panels(
            ctx=ctx, session=session, actor=actor, record_type=record_type, record_id=record_id
        )
    )
    return sorted(panels, key=lambda p: p.order)


async def stock_levels(
    registry: ModuleRegistry,
    ctx: TenantContext,
    session: AsyncSession,
    product_ids: list[uuid.UUID],
) -> dict[uuid.UUID, Decimal] | None:
    """The available quantity of each product, as the enabled modules that keep stock
    tell it (added up per product; a product nobody mentions is 0), or None when no
    enabled module keeps stock (or there are no products to ask about)."""
    if not product_ids:
        return None
    hooks = registry.hooks_for(ctx.enabled)
    answers = await resolve(
        hooks.atrium_stock_levels(ctx=ctx, session=session, product_ids=list(product_ids))
    )
    kept = [answer for answer in answers if answer is not None]
    if not kept:
        return None
    levels = dict.fromkeys(product_ids, Decimal(0))
    for answer in kept:
        for product_id, quantity in answer.items():
            if product_id in levels:
                levels[product_id] += quantity
    return levels
