"""The public pool's pages: the pool (``/t/{slug}/crm/pool``: customers nobody owns, with
the customer list's filters, why each is there, and a claim button within the member's
limit) and its rules (``/t/{slug}/crm/settings/pool``, for ``crm.settings.manage``).

The same services and guards as the JSON API; a refused form is shown beside its input
with what was typed (with its status), an accepted one answers 303.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import ValidationFailed
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.models import PoolSettings
from modules.crm.schemas.customers import ClaimOut, PoolSettingsIn
from modules.crm.services import customers, pool
from modules.crm.views import customers as customer_views
from modules.crm.views.common import page
from modules.crm.views.customer_forms import choices, notice_of
from modules.crm.views.customers import CustomerRow
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, attempt
from web.htmx import wants_partial
from web.tenancy import requires

TAB, SETTINGS_TAB = "/crm/pool", "/crm/settings"
SETTINGS_FIELDS = ("no_follow_up_days", "no_deal_days", "notice_days", "claim_limit")


@dataclass(frozen=True, slots=True)
class PoolRow:
    row: CustomerRow
    reason: str  # msgid


#: The pool's filters: the customer list's but the owner (nobody owns these).
FILTERS = tuple(name for name in customer_views.FILTERS if name != "owner")


async def _pool_page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    *,
    refusal: Refusal | None = None,
    notice: str | None = None,
) -> Template:
    context = await customer_views.listed(
        request, session, actor, f"/t/{tenant.slug}{TAB}", FILTERS, pool=True
    )
    context["rows"] = [
        PoolRow(row, pool.REASONS.get(row.customer.pool_reason, "")) for row in context["rows"]
    ]
    context["can_claim"] = actor.can(codes.POOL_CLAIM)
    if wants_partial(request) and refusal is None:
        return Template("crm/pool/_rows.html", context={"slug": tenant.slug, **context})
    rules = await pool.pool_settings(session)
    return page(
        "crm/pool/index.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        **context,
        owned=await customers.owned_count(session, actor.user_id),
        claim_limit=rules.claim_limit,
        refusal=refusal,
        notice=notice_of(notice),
        **choices(),
    )


@get(TAB, guards=[requires(codes.POOL_READ)])
async def pool_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    notice: FromQuery[str | None] = None,
) -> Template:
    """Filtered by the query's ``q``, ``stage``, ``level``, ``source``, ``industry`` and
    ``tag``; ``after`` is the keyset cursor."""
    return await _pool_page(request, session, tenant, actor, notice=notice)


@post(f"{TAB}/{{party_id:uuid}}/claim", guards=[requires(codes.POOL_CLAIM)])
async def claim_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """The customer's page once it is theirs (the pool again for a member who cannot read
    customers); a refusal (gone, or the limit reached) on the pool page."""
    claimed: list[ClaimOut] = []

    async def take() -> None:
        claimed.append(await pool.claim(session, actor, party_id))

    error = await attempt(session, take)
    if error is not None:
        refusal = Refusal.of("claim", {}, error)
        return await _pool_page(request, session, tenant, actor, refusal=refusal)
    target = f"/t/{tenant.slug}{TAB}"
    if actor.can(codes.CUSTOMER_READ):
        target = f"/t/{tenant.slug}/crm/customers/{party_id}"
    return Redirect(f"{target}?notice=claimed", status_code=HTTP_303_SEE_OTHER)


# --- the rules -------------------------------------------------------------------------------


def _settings_form(rules: PoolSettings) -> dict[str, str]:
    return {name: "" if (v := getattr(rules, name)) is None else str(v) for name in SETTINGS_FIELDS}


def _whole(typed: dict[str, str], field: str, *, optional: bool) -> int | None:
    """A whole number typed into the form; blank is none where the rule may be off."""
    text = typed[field].strip()
    if not text and optional:
        return None
    if not text.isdigit() or len(text) > 9:
        raise ValidationFailed("Enter a whole number such as 30.", field=field)
    return int(text)


def _settings_page(
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
    notice: str | None = None,
) -> Template:
    return page(
        "crm/pool/settings.html",
        tenant,
        actor,
        SETTINGS_TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=form,
        refusal=refusal,
        notice=notice_of(notice),
    )


@get("/crm/settings/pool", guards=[requires(codes.SETTINGS_MANAGE)])
async def pool_settings_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    notice: FromQuery[str | None] = None,
) -> Template:
    rules = await pool.pool_settings(session)
    return _settings_page(tenant, actor, _settings_form(rules), notice=notice)


@post("/crm/settings/pool", guards=[requires(codes.SETTINGS_MANAGE)])
async def save_pool_settings(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    typed = {name: data.get(name, "") for name in SETTINGS_FIELDS}

    async def save() -> None:
        rules = PoolSettingsIn(
            no_follow_up_days=_whole(typed, "no_follow_up_days", optional=True),
            no_deal_days=_whole(typed, "no_deal_days", optional=True),
            notice_days=_whole(typed, "notice_days", optional=False) or 0,
            claim_limit=_whole(typed, "claim_limit", optional=False) or 0,
        )
        await pool.update_pool_settings(session, actor, rules)

    error = await attempt(session, save)
    if error is not None:
        return _settings_page(tenant, actor, typed, refusal=Refusal.of("pool", typed, error))
    return Redirect(
        f"/t/{tenant.slug}/crm/settings/pool?notice=saved", status_code=HTTP_303_SEE_OTHER
    )


PAGES = [pool_page, claim_from_page, pool_settings_page, save_pool_settings]
