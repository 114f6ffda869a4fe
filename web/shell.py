"""The workspace shell: what the layout around every page shows, and the user's language.

The layout (``base.html``) shows the workspace's name, the menu entries of its
enabled modules the member may open, the global search box, a notifications
bell with the unread count, the approvals waiting for the reader, and the user
menu (profile, password, two-factor, sessions, API tokens, the other
workspaces, the language, sign out). Pages outside a workspace (the account
pages) get the user menu without the workspace parts.

Cost: the shell runs on every page, so its facts are read in one query, only
for a signed-in user, by :func:`load_shell` (an app-wide ``before_request``
hook, so it runs after the tenant guard and before the handler): in a
workspace on the request's own connection (the guard has set the tenant),
elsewhere after the account pages' usual session check. The same read brings
the user's language, which then settles the request's locale
(:func:`web.middleware.settle_locale`) before the handler says a word. The
JSON API (``/api/``) reads none of this.

Billing banners: a module read-only until paid is said on every workspace page to
everyone (with the way to the app store for owners and admins); a module whose payment
failed and is in its grace (:mod:`billing.entitlements`) is said to owners and admins
only, with the date it turns read-only; and the workspace's dunning
(:mod:`billing.dunning`: a failed payment, with the link to update the card, or the bank
asking to confirm it, with the invoice's link) to owners and admins. All come from the
same query.

Approvals waiting: under core's default rule (:mod:`core.approvals`) a pending
request waits for any owner or admin, so they see the count of pending
requests core's engine holds. Requests an approval flow module holds (OA)
wait for whoever its flow names, which core cannot tell: such a module answers
``atrium_approvals_waiting`` (its own capped count and its inbox), called by
:func:`load_shell` for the enabled modules after the one query — one more cheap
query per module that answers (OA: one indexed count of the reader's open tasks).
The badge shows the sum and links to the first module page with any waiting, else
to core's waiting list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import Request, Response, post
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from billing import dunning
from core.approvals import APPROVER_ROLES, CORE_ENGINE
from core.context import TenantContext
from core.contributions import menu
from core.db import Database
from core.i18n import SUPPORTED, check_locale
from core.identity import profile
from core.models import User
from core.permissions import Actor
from core.plugins.calls import resolve
from core.plugins.registry import ModuleRegistry
from core.roles import ADMIN, OWNER
from web.account import LOCALE_COOKIE_MAX_AGE
from web.auth import (
    SESSION_COOKIE,
    WORKSPACE_AREA,
    FormData,
    current_session,
    local_target,
    with_session_cookie,
)
from web.middleware import LOCALE_COOKIE, settle_locale
from web.tenancy import ACTOR_KEY, SESSION_KEY, TENANT_KEY

SHELL_KEY = "atrium.shell"
#: Badges count up to here and then read "99+": the count stops reading rows there.
COUNT_CAP = 100
#: Each language by its own name, as a language menu lists them.
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}
#: Paths with no shell: the JSON API, static files, the operator console (its own area), and
#: the modules' public pages (a visitor's, embedded on a workspace's own site).
NO_SHELL = ("/api/", "/static/", "/operator", "/public/")

_USER_COLUMNS = """u.display_name, u.locale, u.avatar,
       ARRAY(SELECT ARRAY[w.slug, w.name] FROM core_user_workspaces(u.id) w) AS workspaces"""
USER_FACTS = text(f"SELECT {_USER_COLUMNS} FROM core_user u WHERE u.id = :user_id")
WORKSPACE_FACTS = text(
    f"""
SELECT {_USER_COLUMNS}, t.name AS workspace_name,
       (SELECT count(*) FROM (SELECT 1 FROM core_notification n
          WHERE n.tenant_id = t.id AND n.user_id = u.id AND n.read_at IS NULL
          LIMIT :cap) unread) AS unread,
       CASE WHEN EXISTS (SELECT 1 FROM core_membership m
                          WHERE m.tenant_id = t.id AND m.user_id = u.id AND m.active
                            AND m.role::text = ANY(CAST(:approver_roles AS text[])))
            THEN (SELECT count(*) FROM (SELECT 1 FROM core_approval_request a
                    WHERE a.tenant_id = t.id AND a.status = 'pending' AND a.engine = :engine
                    LIMIT :cap) waiting)
            ELSE 0 END AS approvals,
       EXISTS (SELECT 1 FROM core_membership m
                WHERE m.tenant_id = t.id AND m.user_id = u.id AND m.active
                  AND m.role::text = ANY(CAST(:admin_roles AS text[]))) AS admin,
       (SELECT jsonb_agg(jsonb_build_array(tm.module_key, tm.read_only_from)
                         ORDER BY tm.module_key)
          FROM core_tenant_module tm
         WHERE tm.tenant_id = t.id AND tm.enabled AND (tm.until IS NULL OR tm.until > now())
           AND tm.access = 'full' AND tm.source = 'paid' AND tm.read_only_from > now()
       ) AS past_due,
       (SELECT ba.payment_failed_at IS NOT NULL FROM billing_account ba
         WHERE ba.tenant_id = t.id) AS payment_failed,
       (SELECT ba.payment_action_url FROM billing_account ba
         WHERE ba.tenant_id = t.id) AS payment_action_url
  FROM core_user u, core_tenant t
 WHERE u.id = :user_id AND t.id = :tenant_id
"""
)


@dataclass(frozen=True, slots=True)
class ShellUser:
    display_name: str
    avatar_url: str | None  # None: the layout shows the name's first letter

    @property
    def initial(self) -> str:
        return self.display_name[:1].upper()


@dataclass(frozen=True, slots=True)
class ShellFacts:
    """What one query tells the layout about the signed-in reader."""

    user: ShellUser
    locale: str
    workspaces: tuple[tuple[str, str], ...]  # (slug, name) of each of the user's workspaces
    workspace_name: str | None = None
    unread: int = 0
    approvals: int = 0
    # --- approvals waiting ---
    approvals_path: str = "/approvals"  # under the workspace: where the badge leads
    admin: bool = False  # an owner or admin of this workspace
    # (module key, when it turns read-only) of each paid module in its payment's grace
    past_due: tuple[tuple[str, datetime], ...] = ()
    # Dunning (billing.dunning): a payment failed, or the bank asks to confirm it (where).
    payment_failed: bool = False
    payment_action_url: str | None = None


@dataclass(frozen=True, slots=True)
class Banner:
    """A billing notice above the page: ``kind`` is ``past_due`` or ``read_only`` (of a
    module), ``payment_failed`` or ``payment_action`` (dunning, with where to act)."""

    kind: str
    module_name: str = ""  # a msgid; the dunning banners name no module
    until: datetime | None = None  # past_due: when it turns read-only
    link: str | None = None  # the dunning banners: the portal, or the bank's confirmation


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything ``base.html`` shows, computed here so the template only displays."""

    here: str  # this page's address without ?lang, where a language choice returns
    languages: tuple[tuple[str, str], ...]  # (locale, its own name)
    user: ShellUser | None = None
    workspace: TenantContext | None = None
    workspace_name: str = ""
    entries: list[dict[str, str]] = field(default_factory=list)
    other_workspaces: list[tuple[str, str]] = field(default_factory=list)
    unread: int = 0
    approvals: int = 0
    approvals_path: str = "/approvals"  # --- approvals waiting ---
    banners: list[Banner] = field(default_factory=list)
    admin: bool = False

    @property
    def unread_label(self) -> str:
        return badge(self.unread)

    @property
    def approvals_label(self) -> str:
        return badge(self.approvals)


def badge(count: int) -> str:
    """A count as a badge reads it: up to the cap, then "99+"."""
    return f"{COUNT_CAP - 1}+" if count >= COUNT_CAP else str(count)


def _facts(row: Any) -> ShellFacts:
    avatar = f"/account/avatar?v={row.avatar.rsplit('/', 1)[-1]}" if row.avatar else None
    mapping = row._mapping
    return ShellFacts(
        user=ShellUser(row.display_name, avatar),
        locale=row.locale,
        workspaces=tuple((slug, name) for slug, name in row.workspaces),
        workspace_name=mapping.get("workspace_name"),
        unread=mapping.get("unread", 0),
        approvals=mapping.get("approvals", 0),
        admin=mapping.get("admin", False),
        past_due=tuple(
            (key, datetime.fromisoformat(until)) for key, until in mapping.get("past_due") or ()
        ),
        payment_failed=bool(mapping.get("payment_failed")),
        payment_action_url=mapping.get("payment_action_url"),
    )


async def _workspace_facts(
    session: AsyncSession, ctx: TenantContext, actor: Actor, registry: ModuleRegistry
) -> ShellFacts:
    sql = await session.connection()  # the guard's transaction: the tenant is set
    params = {
        "user_id": actor.user_id,
        "tenant_id": ctx.tenant_id,
        "cap": COUNT_CAP,
        "approver_roles": list(APPROVER_ROLES),
        "engine": CORE_ENGINE,
        "admin_roles": [OWNER, ADMIN],
    }
    facts = _facts((await sql.execute(WORKSPACE_FACTS, params)).one())
    return await _with_engines_waiting(facts, session, ctx, actor, registry)


# --- approvals waiting ---


async def _with_engines_waiting(
    facts: ShellFacts,
    session: AsyncSession,
    ctx: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
) -> ShellFacts:
    """Core's count plus the enabled modules' own (``atrium_approvals_waiting``)."""
    hooks = registry.hooks_for(ctx.enabled)
    answers = await resolve(
        hooks.atrium_approvals_waiting(ctx=ctx, session=session, actor=actor, cap=COUNT_CAP)
    )
    waiting = [answer for answer in answers if answer is not None and answer.count]
    if not waiting:
        return facts
    total = facts.approvals + sum(answer.count for answer in waiting)
    return replace(facts, approvals=total, approvals_path=waiting[0].path)


async def _account_facts(request: Request[Any, Any, Any]) -> ShellFacts | None:
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        live = await current_session(request, session, WORKSPACE_AREA)
        if live is None:
            return None
        return _facts((await session.execute(USER_FACTS, {"user_id": live.user_id})).one())


async def load_shell(request: Request[Any, Any, Any]) -> None:
    """``before_request``: read the signed-in reader's shell facts and settle the locale.

    Nothing is read for a signed-out request, the API or static files."""
    if request.url.path.startswith(NO_SHELL) or SESSION_COOKIE not in request.cookies:
        return
    state = request.scope.setdefault("state", {})  # type: ignore[typeddict-item]
    ctx: TenantContext | None = state.get(TENANT_KEY)
    if ctx is not None:
        registry: ModuleRegistry = request.app.state.registry
        facts = await _workspace_facts(state[SESSION_KEY], ctx, state[ACTOR_KEY], registry)
    else:
        facts = await _account_facts(request)
    if facts is None:
        return
    state[SHELL_KEY] = facts
    settle_locale(user=facts.locale, workspace=ctx.locale if ctx else None)


def _here(request: Request[Any, Any, Any]) -> str:
    query = [(k, v) for k, v in parse_qsl(request.url.query) if k != "lang"]
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def layout(request: Request[Any, Any, Any], registry: ModuleRegistry) -> Layout:
    """What the layout shows for this request (``workspace_nav(request)`` in templates)."""
    state = request.scope.get("state", {})
    ctx: TenantContext | None = state.get(TENANT_KEY)
    actor: Actor | None = state.get(ACTOR_KEY)
    facts: ShellFacts | None = state.get(SHELL_KEY)
    languages = tuple((locale, LANGUAGE_NAMES[locale]) for locale in SUPPORTED)
    shell = Layout(here=_here(request), languages=languages)
    if facts is not None:
        shell = replace(
            shell,
            user=facts.user,
            other_workspaces=[w for w in facts.workspaces if ctx is None or w[0] != ctx.slug],
            unread=facts.unread,
            approvals=facts.approvals,
            approvals_path=facts.approvals_path,
        )
    if ctx is None or actor is None:
        return shell
    entries = [
        {"module": key, "label": entry.label, "href": f"/t/{ctx.slug}{entry.path}"}
        for key, entry in menu(registry, ctx)
        if entry.shown_to(actor)
    ]
    name = (facts.workspace_name if facts else None) or ctx.slug
    admin = facts is not None and facts.admin
    banners = [
        Banner("past_due", registry.manifest(key).name, until)
        for key, until in (facts.past_due if admin else ())
        if key in registry.modules
    ] + [
        Banner("read_only", registry.manifest(key).name)
        for key in sorted(ctx.read_only)
        if key in registry.modules
    ]
    if admin and facts is not None:
        if facts.payment_failed:
            banners.append(Banner("payment_failed", link=dunning.portal_path(ctx.slug)))
        if facts.payment_action_url:
            banners.append(Banner("payment_action", link=facts.payment_action_url))
    return replace(
        shell, workspace=ctx, workspace_name=name, entries=entries, banners=banners, admin=admin
    )


@post("/language", include_in_schema=False)
async def choose_language(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """The language menu: the ``atrium_lang`` cookie and, when signed in, the profile too,
    then back to the page (a path on this site only)."""
    locale = check_locale(data.get("locale", ""))
    db: Database = request.app.state.db
    if SESSION_COOKIE in request.cookies:
        async with db.global_transaction() as session:
            live = await current_session(request, session, WORKSPACE_AREA)
            user = await session.get(User, live.user_id) if live else None
            if user is not None:
                await profile.update_profile(
                    session, user, user.display_name, locale, user.time_zone
                )
    back = Redirect(local_target(data.get("next"), "/"), status_code=HTTP_303_SEE_OTHER)
    return with_session_cookie(
        back, request.app.state.settings, LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_MAX_AGE
    )


PAGES = [choose_language]
