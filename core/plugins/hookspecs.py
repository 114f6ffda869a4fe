"""Atrium's hook specifications: the contract between core and modules.

Every hook is named ``atrium_*``, typed, and documented with when it fires
and how results combine. ``tests/core/test_hookspecs.py`` fails when a hook
has no docstring, is missing from docs/modules.md, or is never called by a
test. Per-request hooks are called only for the modules the tenant has
enabled (:meth:`core.plugins.registry.ModuleRegistry.hooks_for`); a result
may be a value or an awaitable, and callers await what needs awaiting.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.approvals import ApprovalEngine
    from core.context import TenantContext
    from core.permissions import Actor
    from core.plugins.manifest import ModuleManifest
    from core.plugins.results import Panel, SearchResult, WaitingApprovals, WidgetData

PROJECT = "atrium"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def atrium_module() -> ModuleManifest:
    """Declare the module: return its manifest record.

    Fires once per process, at startup, for every installed module. Each
    module returns exactly one manifest; core collects them, validates them
    (keys, permissions, depends) and orders them by ``depends``. Pluggy's
    call order is never used for install order.
    """


@hookspec
def atrium_dashboard_widgets(ctx: TenantContext, session: AsyncSession) -> list[WidgetData]:
    """Supply the data of this module's dashboard widgets for one request.

    Fires when a member opens the workspace dashboard, only for the modules
    the tenant has enabled. Results from all modules are concatenated; each
    item names a widget its module declared in ``ModuleManifest.dashboard_widgets``.
    """


@hookspec
def atrium_global_search(
    ctx: TenantContext, session: AsyncSession, actor: Actor, query: str
) -> list[SearchResult]:
    """Find records matching ``query`` that ``actor`` may see, for the global search box.

    Fires once per search request with a non-blank query, only for enabled
    modules. ``actor`` is the member searching: check their permissions
    (``actor.can``) and limit queries to their data scope
    (``core.permissions.visible``), so a record they could not open is never
    listed. Each module's ten best results (by ``SearchResult.score``) are
    kept; they are concatenated with core's parties and products and ranked
    by score. An implementation may leave out arguments it does not use.
    """


@hookspec
def atrium_record_panels(
    ctx: TenantContext,
    session: AsyncSession,
    actor: Actor,
    record_type: str,
    record_id: uuid.UUID,
) -> list[Panel]:
    """Contribute panels to another module's (or core's) record page.

    Fires when a record page is shown (``record_type`` such as ``core.party``
    for a customer, ``core.member`` for an employee), only for enabled
    modules, for ``actor``, who may open the record: show only what their own
    rights and scopes allow. Results are concatenated and shown ordered by
    ``Panel.order``.
    """


@hookspec
def atrium_module_enabled(ctx: TenantContext, session: AsyncSession, module_key: str) -> None:
    """React to ``module_key`` being switched on for a tenant.

    Fires inside the enabling transaction, after the enablement row is
    written, for every module the tenant now has enabled (the new one too),
    so bridges can set themselves up. Return values are ignored; an
    exception aborts the enabling.
    """


@hookspec
def atrium_module_disabled(ctx: TenantContext, session: AsyncSession, module_key: str) -> None:
    """React to ``module_key`` being switched off for a tenant; its data stays.

    Fires inside the disabling transaction for the modules still enabled and
    the one being disabled. Return values are ignored; an exception aborts.
    """


@hookspec(firstresult=True)
def atrium_approval_engine(ctx: TenantContext) -> ApprovalEngine | None:
    """Offer an approval engine that runs the tenant's approval flows.

    Fires when a module requests an approval, only for enabled modules. The
    first non-None result wins (the OA module returns its workflow engine);
    with none, core's default rule decides.
    """


@hookspec
def atrium_stock_levels(
    ctx: TenantContext, session: AsyncSession, product_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Decimal] | None:
    """Tell how much of each product is available now (on hand less reserved).

    Fires when a page lists products beside their availability (a CRM quote's
    lines), once per page with the products it shows (never with an empty
    list), only for enabled modules. Return ``None`` when the module keeps no
    stock; otherwise the available quantity in each product's own unit for
    the products it knows (leave out the ones it does not). Core collects them,
    drops the ``None`` answers and adds the quantities up per product; when every
    answer is ``None`` nobody keeps stock and the page shows no stock column.
    """


# --- approvals waiting ---


@hookspec
def atrium_approvals_waiting(
    ctx: TenantContext, session: AsyncSession, actor: Actor, cap: int
) -> WaitingApprovals | None:
    """Count the approvals waiting for ``actor`` in this module's own approval engine.

    Fires on every workspace page a signed-in member opens (``web.shell.load_shell``, for
    the navigation's badge), only for the modules the tenant has enabled. Return ``None``
    when the module holds no approvals for this reader; otherwise ``WaitingApprovals``
    with the count (read at most ``cap`` rows: the badge reads "99+" from there) and the
    page that lists them. Core collects them: the badge shows core's own count (requests
    its default rule holds, for owners and admins) plus every answer's, and links to the
    first answer's page that has any waiting (else to core's waiting list). Keep it to one
    cheap, indexed query: it runs on every page.
    """


HOOK_NAMES: tuple[str, ...] = tuple(name for name in dict(globals()) if name.startswith("atrium_"))
