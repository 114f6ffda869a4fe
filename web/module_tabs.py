"""A module's tabs: the pages under its one menu entry, each behind a right.

A module with several pages (CRM, OA) has one menu entry that opens the first tab the
member may see, and a tab bar on every page (``<key>/layout.html`` renders the context
name given). :class:`TabSet` holds the tabs and answers both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.context import TenantContext
from core.errors import PermissionDenied
from core.i18n import gettext
from core.permissions import Actor


@dataclass(frozen=True, slots=True)
class Tab:
    label: str  # a msgid, translated where shown
    href: str
    current: bool


@dataclass(frozen=True, slots=True)
class TabSet:
    #: The template context name the layout reads the tabs from (``crm_tabs``).
    context_name: str
    #: In order: label (a msgid), path under the workspace, the right to see it.
    tabs: tuple[tuple[str, str, str], ...]
    #: The module's name (a msgid), for "You may not see any part of CRM."
    module_name: str

    @property
    def rights(self) -> tuple[str, ...]:
        """Who sees the menu entry: whoever may open any of the tabs."""
        return tuple(right for _, _, right in self.tabs)

    def open(self, tenant: TenantContext, actor: Actor, current: str) -> list[Tab]:
        """The tabs ``actor`` may open; ``current`` is the path of the page's own tab."""
        return [
            Tab(label, f"/t/{tenant.slug}{path}", path == current)
            for label, path, right in self.tabs
            if actor.can(right)
        ]

    def page(
        self,
        template: str,
        tenant: TenantContext,
        actor: Actor,
        tab: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Template:
        """A page of the module: ``template`` extends its layout; ``tab`` is its tab's path."""
        return Template(
            template,
            context={
                self.context_name: self.open(tenant, actor, tab),
                "slug": tenant.slug,
                **context,
            },
            status_code=status_code,
        )

    def home(self, tenant: TenantContext, actor: Actor) -> Redirect:
        """The menu entry: the first tab the member may open."""
        opened = self.open(tenant, actor, "")
        if not opened:
            raise PermissionDenied(
                "You may not see any part of {module}.", module=gettext(self.module_name)
            )
        return Redirect(opened[0].href, status_code=HTTP_303_SEE_OTHER)
