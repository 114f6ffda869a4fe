"""My API tokens in one workspace, as a page: ``/t/{slug}/api-tokens``.

Lists the member's own tokens, makes one (a name, the date it stops working,
and permissions chosen from those the member holds, grouped by module) and
revokes one after a confirmation. The secret is on the answer to the create
form only, marked ``Cache-Control: no-store`` so no cache or back button keeps
it. Thin handlers over :mod:`core.identity.api_tokens`, which checks the rest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import DomainError, NotFound, ValidationFailed
from core.identity import api_tokens
from core.models import ApiToken
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.roles import permission_groups, refusal

CREATE = "core.api_token.create"
DEFAULT_DAYS = 90
TOKEN_FIELDS = ("name", "expires_on", "permissions")


@dataclass(frozen=True, slots=True)
class ListedToken:
    token: ApiToken
    status: str  # active | expired | revoked


def _listed(token: ApiToken, now: datetime) -> ListedToken:
    if token.revoked_at is not None:
        return ListedToken(token, "revoked")
    if token.expires_at is not None and token.expires_at <= now:
        return ListedToken(token, "expired")
    return ListedToken(token, "active")


def _today() -> date:
    return datetime.now(UTC).date()


def _days_until(typed: str) -> int:
    """The days from today (UTC) to the typed date; the service checks the range."""
    try:
        return (date.fromisoformat(typed.strip()) - _today()).days
    except ValueError:
        raise ValidationFailed(
            "Choose the date the token stops working.", field="expires_on"
        ) from None


async def _page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    *,
    form: dict[str, Any] | None = None,
    refused: dict[str, DomainError] | None = None,
) -> Template:
    refused = refused or {}
    now = datetime.now(UTC)
    default_expiry = (_today() + timedelta(days=DEFAULT_DAYS)).isoformat()
    return Template(
        "api_tokens/index.html",
        context={
            "slug": tenant.slug,
            "tokens": [_listed(token, now) for token in await api_tokens.mine(session, actor)],
            "can_create": actor.can(CREATE),
            "groups": permission_groups(registry, only=actor.permissions),
            "form": form or {"name": "", "expires_on": default_expiry, "permissions": set()},
            "refused": refused,
            "max_expiry": (_today() + timedelta(days=api_tokens.MAX_DAYS)).isoformat(),
        },
        status_code=max((e.status_code for e in refused.values()), default=200),
    )


@get("/api-tokens")
async def api_tokens_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, registry: Registry
) -> Template:
    return await _page(session, tenant, actor, registry)


@post("/api-tokens")
async def create_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
) -> Response[Any]:
    typed = await request.form()
    form = {
        "name": typed.get("name", ""),
        "expires_on": typed.get("expires_on", ""),
        "permissions": set(typed.getall("permission", [])),
    }
    try:
        plaintext, token = await api_tokens.create(
            session,
            actor,
            name=form["name"],
            permissions=form["permissions"],
            expires_in_days=_days_until(form["expires_on"]),
        )
    except DomainError as error:
        refused = refusal(error, TOKEN_FIELDS)
        return await _page(session, tenant, actor, registry, form=form, refused=refused)
    return Template(
        "api_tokens/created.html",
        context={"slug": tenant.slug, "token": token, "secret": plaintext},
        headers={"Cache-Control": "no-store"},
    )


async def _my_token(session: AsyncSession, actor: Actor, token_id: uuid.UUID) -> ApiToken:
    for token in await api_tokens.mine(session, actor):
        if token.id == token_id and token.revoked_at is None:
            return token
    raise NotFound("No API token {id}.", id=str(token_id))


@get("/api-tokens/{token_id:uuid}/revoke")
async def revoke_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, token_id: FromPath[uuid.UUID]
) -> Template:
    """The confirmation."""
    token = await _my_token(session, actor, token_id)
    return Template("api_tokens/revoke.html", context={"slug": tenant.slug, "token": token})


@post("/api-tokens/{token_id:uuid}/revoke")
async def revoke_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, token_id: FromPath[uuid.UUID]
) -> Redirect:
    await api_tokens.revoke(session, actor, token_id)
    return Redirect(f"/t/{tenant.slug}/api-tokens", status_code=HTTP_303_SEE_OTHER)


PAGES = [api_tokens_page, create_from_page, revoke_page, revoke_from_page]
