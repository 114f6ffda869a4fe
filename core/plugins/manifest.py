"""The manifest record a module declares: what it is and what it brings.

Like Odoo's ``__manifest__``: static facts (key, version, depends,
permissions, menu, approval kinds, jobs) that core reads once at startup to
validate the installation, order it, mount routes and wire events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.context import TenantContext
    from core.events import Event
    from core.exchange.imports import ImportSpec
    from core.permissions import Actor
    from core.plugins.registry import ModuleRegistry
    from core.records.access import RecordType

#: The ``opt`` a handler of a module's ``public_routers`` sets to take a cross-site form post
#: without the CSRF token it cannot carry (``@post(..., opt={CSRF_EXEMPT: True})``); refused
#: at startup on any other route. Protect such a handler another way (a throttle, a honeypot).
CSRF_EXEMPT = "atrium_csrf_exempt"


@dataclass(frozen=True, slots=True)
class Permission:
    """A permission code (``crm.opportunity.write``) and its readable name (a msgid).

    ``member`` is what the built-in Member role gets: None (not granted) or
    the data scope it sees the resource with (``own``, ``department``,
    ``department_tree``, ``all``). Owner and Admin get every code, scope ``all``.
    """

    code: str
    label: str
    member: str | None = None


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A navigation entry; ``path`` is relative to the workspace (``/crm/leads``).

    ``permission`` is who sees it: a code, or several of which any one will do (a module's
    one entry whose landing page opens the first of its pages the member may see)."""

    label: str
    path: str
    icon: str = ""
    permission: str | tuple[str, ...] | None = None
    order: int = 100

    def shown_to(self, actor: Actor) -> bool:
        if self.permission is None:
            return True
        codes = (self.permission,) if isinstance(self.permission, str) else self.permission
        return any(actor.can(code) for code in codes)


@dataclass(frozen=True, slots=True)
class ApprovalKind:
    """Something a module asks approval for; ``fields`` are what a flow's rules may test."""

    code: str
    label: str
    fields: tuple[str, ...] = ("amount",)


EventHandlerFn = Callable[["AsyncSession", "TenantContext", Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EventHandler:
    """Deliver events of type ``event`` to ``handle``, once each, in its own transaction."""

    event: type[Event]
    handle: EventHandlerFn
    name: str = ""  # defaults to the function's name; stable: it keys the processed-marker


JobFn = Callable[["AsyncSession", "TenantContext"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A per-tenant job on a cron expression (UTC), run for tenants with the module on."""

    key: str
    cron: str
    run: JobFn


@dataclass(frozen=True, slots=True)
class DashboardWidget:
    """A widget the module offers the dashboard; its data comes from the widgets hook."""

    key: str
    title: str
    template: str


# (session, ctx, registry): the registry for what asks core on the module's behalf (roles'
# rights, the approval port).
DemoDataFn = Callable[["AsyncSession", "TenantContext", "ModuleRegistry"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ModuleManifest:
    key: str
    name: str
    version: str
    summary: str = ""
    depends: tuple[str, ...] = ()
    permissions: tuple[Permission, ...] = ()
    menu: tuple[MenuEntry, ...] = ()
    api_routers: Sequence[Any] = ()  # Litestar routers/controllers, mounted at /api/t/{slug}
    view_routers: Sequence[Any] = ()  # mounted at /t/{slug}
    # Pages anyone may open, signed in or not, mounted at /public/{key} WITHOUT the tenant
    # guard (no session, tenant or actor to ask for): a public handler finds its workspace
    # itself and works in that tenant's transaction (Database.tenant_transaction).
    public_routers: Sequence[Any] = ()
    templates: Path | None = None  # a folder holding templates/<key>/...
    migrations: Path | None = None  # this module's Alembic versions folder (branch = key)
    approval_kinds: tuple[ApprovalKind, ...] = ()
    event_handlers: tuple[EventHandler, ...] = ()
    scheduled_jobs: tuple[ScheduledJob, ...] = ()
    dashboard_widgets: tuple[DashboardWidget, ...] = ()
    # The module's kinds of record that attachments and the timeline hang on, with who may
    # read and write them (core.records.access): how the generic endpoints check access.
    record_types: tuple[RecordType, ...] = ()
    # What the module's records can be imported from spreadsheets as (core.exchange): import
    # kind ("crm.leads", prefixed with the key) -> its ImportSpec, whose permission is one of
    # the module's own; offered on the import pages while the module is enabled.
    import_specs: Mapping[str, ImportSpec] = field(default_factory=dict)
    demo_data: DemoDataFn | None = None


def handler_name(module_key: str, handler: EventHandler) -> str:
    """The stable name that keys a handler's processed-markers: ``module.function``."""
    return f"{module_key}.{handler.name or handler.handle.__name__}"
