"""The Litestar application factory: core, tenants and every installed module.

Module routers are mounted under the workspace prefix with the tenant guard
and the module's key in ``opt``, so no module route can skip tenant
resolution or the enablement check:

- pages at ``/t/{tenant_slug}/...`` (HTML + htmx),
- JSON at ``/api/t/{tenant_slug}/...`` (in the OpenAPI schema at ``/schema``).

A module's ``public_routers`` (pages for visitors, such as CRM's web-to-lead form) are
mounted at ``/public/{key}/...`` without the tenant guard: they find their workspace
themselves. Only their handlers may opt out of the CSRF check (``CSRF_EXEMPT``), and a
route elsewhere that tries is a startup error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from billing import console_views as billing_console_views
from billing import views as billing_views
from billing import webhooks as billing_webhooks
from billing import workspace_views as billing_workspace_views
from core import i18n, mail, migrate
from core.db import Database
from core.exchange import api as exchange_api
from core.exchange import views as exchange_views
from core.parties import api as parties_api
from core.parties import views as parties_views
from core.plugins.manifest import CSRF_EXEMPT
from core.plugins.registry import ModuleRegistry, PluginError
from core.products import api as products_api
from core.products import views as products_views
from core.records import api as records_api
from core.records import views as records_views
from core.settings import Settings
from tenants import api as tenants_api
from tenants import views as tenants_views
from web import (
    account,
    api_tokens,
    app_store,
    approvals,
    audit,
    auth,
    departments,
    mailbox,
    members,
    notifications,
    onboarding,
    operator,
    organisation,
    pages,
    recovery,
    roles,
    shell,
    signup,
    workspace_data,
)
from web import settings as settings_pages  # "settings" is create_app's argument
from web.errors import EXCEPTION_HANDLERS, error_text
from web.health import healthz
from web.middleware import LOCALE_COOKIE, request_context
from web.tenancy import (
    finish_request_session,
    provide_actor,
    provide_db,
    provide_registry,
    provide_session,
    provide_tenant,
    tenant_guard,
)

WEB = Path(__file__).parent
WORKSPACE = "/t/{tenant_slug:str}"
WORKSPACE_API = "/api/t/{tenant_slug:str}"
PUBLIC = "/public"


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    registry: ModuleRegistry | None = None,
    run_worker: bool = False,
) -> Litestar:
    """Build the app. ``db`` and ``registry`` are made from settings when not given."""
    settings = settings or Settings.from_env()
    registry = registry or ModuleRegistry.load(settings.extra_modules, settings.modules_allow)
    for loaded in registry.modules.values():
        package_dir = Path(loaded.plugin.__file__ or ".").parent  # type: ignore[union-attr]
        i18n.add_catalog_dir(package_dir / "translations")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = db or Database.connect(settings)
        app.state.db = database
        app.state.mailer = mail.mailer_for(settings, database)
        app.state.migration_ancestry = migrate.revision_ancestry(registry)
        worker_task: asyncio.Task[None] | None = None
        stop = asyncio.Event()
        if run_worker:
            from core.worker import Worker

            worker_task = asyncio.create_task(Worker(database, registry).run(stop))
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
            await mail.drain()  # mail still being sent records its outcome on the database
            if db is None:
                await database.dispose()

    core_routers = workspace_routers(
        [*pages.PAGES, *tenants_views.PAGES], [*pages.API, *tenants_api.API], tag="workspace"
    )
    module_routers = [
        router
        for key, loaded in registry.modules.items()
        for router in workspace_routers(
            loaded.manifest.view_routers, loaded.manifest.api_routers, tag=key, module=key
        )
    ]

    app = Litestar(
        route_handlers=[
            healthz,
            pages.home,
            *auth.PAGES,
            *account.PAGES,
            *operator.PAGES,
            *billing_views.PAGES,
            *billing_console_views.PAGES,
            *billing_webhooks.ROUTES,
            *recovery.PAGES,
            *signup.PAGES,
            *mailbox.PAGES,
            *shell.PAGES,
            create_static_files_router(path="/static", directories=[WEB / "static"]),
            *core_routers,
            *workspace_routers(members.PAGES, members.API, tag="members"),
            *workspace_routers(roles.PAGES, [], tag="roles"),
            *workspace_routers(api_tokens.PAGES, [], tag="api-tokens"),
            *workspace_routers(departments.PAGES, [], tag="departments"),
            *workspace_routers(audit.PAGES, [], tag="audit"),
            *workspace_routers(settings_pages.PAGES, [], tag="settings"),
            *workspace_routers(workspace_data.PAGES, [], tag="settings"),
            *workspace_routers(app_store.PAGES, [], tag="apps"),
            *workspace_routers(billing_workspace_views.PAGES, [], tag="billing"),
            *workspace_routers(onboarding.PAGES, [], tag="onboarding"),
            *workspace_routers(notifications.PAGES, [], tag="notifications"),
            *workspace_routers(approvals.PAGES, [], tag="approvals"),
            *workspace_routers([], organisation.API, tag="organisation"),
            *workspace_routers(parties_views.PAGES, parties_api.API, tag="parties"),
            *workspace_routers(products_views.PAGES, products_api.API, tag="products"),
            *workspace_routers(records_views.PAGES, records_api.API, tag="records"),
            *workspace_routers(exchange_views.PAGES, exchange_api.API, tag="imports"),
            *module_routers,
            *public_routers(registry),
        ],
        dependencies={
            "session": Provide(provide_session, sync_to_thread=False),
            "tenant": Provide(provide_tenant, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "registry": Provide(provide_registry, sync_to_thread=False),
            "db": Provide(provide_db, sync_to_thread=False),
        },
        state=_initial_state(settings, registry),
        lifespan=[lifespan],
        before_send=[finish_request_session],
        before_request=shell.load_shell,
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(_jinja(registry))
        ),
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="atrium_csrf",
            cookie_secure=not settings.is_development and settings.env != "test",
            exclude=["/api/"],  # the API authenticates by token, not by ambient cookie
            exclude_from_csrf_key=CSRF_EXEMPT,  # a public form post; see public_routers
        ),
        openapi_config=OpenAPIConfig(
            title="Atrium", version="0.1.0", path="/schema", use_handler_docstrings=True
        ),
        logging_config=None,  # core.logging configures handlers with request id and tenant
        debug=False,
    )
    _check_csrf_exemptions(app)
    # Around the whole app, not per route: a URL no route matches gets an id and a locale too.
    app.asgi_handler = request_context(app.asgi_handler)
    return app


def public_routers(registry: ModuleRegistry) -> list[Router]:
    """Each module's public pages under ``/public/{key}``: no tenant guard, no session, no
    actor; the module's key in ``opt`` says whose they are."""
    return [
        Router(
            f"{PUBLIC}/{key}",
            route_handlers=list(loaded.manifest.public_routers),
            opt={"module": key},
            include_in_schema=False,
        )
        for key, loaded in registry.modules.items()
        if loaded.manifest.public_routers
    ]


def _check_csrf_exemptions(app: Litestar) -> None:
    """Only a public page may take a post without the CSRF token: a workspace page that
    skipped the check would take a forged post riding on a member's cookie."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.opt.get(CSRF_EXEMPT) and not route.path.startswith(f"{PUBLIC}/"):
                raise PluginError(
                    f"The route {route.path} opts out of the CSRF check ({CSRF_EXEMPT}); "
                    f"only a module's public_routers (under {PUBLIC}/) may"
                )


def workspace_routers(
    page_handlers: Sequence[Any],
    api_handlers: Sequence[Any],
    *,
    tag: str,
    module: str | None = None,
) -> list[Router]:
    """Pages under /t/{slug}, JSON under /api/t/{slug}; every route behind the tenant guard.

    ``module`` puts the module's key in the routes' ``opt``, which the guard
    checks against the tenant's enabled modules.
    """
    opt = {"module": module} if module else {}
    routers = []
    if page_handlers:
        routers.append(
            Router(
                WORKSPACE,
                route_handlers=list(page_handlers),
                guards=[tenant_guard],
                opt=opt,
                include_in_schema=False,
            )
        )
    if api_handlers:
        routers.append(
            Router(
                WORKSPACE_API,
                route_handlers=list(api_handlers),
                guards=[tenant_guard],
                opt=opt,
                tags=[tag],
            )
        )
    return routers


def _initial_state(settings: Settings, registry: ModuleRegistry) -> Any:
    from litestar.datastructures import State

    return State({"settings": settings, "registry": registry})


def _jinja(registry: ModuleRegistry) -> Environment:
    folders = [WEB / "templates"]
    folders += [m.manifest.templates for m in registry.modules.values() if m.manifest.templates]
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders]),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        enable_async=False,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        workspace_nav=lambda request: shell.layout(request, registry),
        current_locale=lambda: i18n.current_locale.get(),
        supported_locales=i18n.SUPPORTED,
        locale_cookie=LOCALE_COOKIE,
    )
    env.filters.update(
        money=i18n.money,
        number=i18n.number,
        when=i18n.when,
        error_text=error_text,
        # A msgid held in a variable (a status, a kind's label), translated; typed text (a
        # designed form's name, a step's) shown as typed. Never _() for those: newstyle
        # gettext marks its result safe and %-formats it, so typed text would be HTML.
        label=i18n.gettext,
    )
    return env
