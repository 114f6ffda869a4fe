"""The targets page, ``/t/{slug}/crm/targets?year=``: each salesperson's and team's monthly
target, what they signed, and the percent attained, for the months of a year (in the base
currency); members with ``crm.target.manage`` set a month's target on the same page."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Response, get, post
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import DomainError, ValidationFailed
from core.permissions import Actor
from core.products.currency import base_currency
from modules.crm import permissions as codes
from modules.crm.services import contracts, targets
from modules.crm.services.opportunities import month_of
from modules.crm.views.common import page
from modules.crm.views.opportunities import choices_of_members
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, answer_form, read, read_decimal, required, typed_in
from web.tenancy import requires

TAB = "/crm/targets"
TARGET_FIELDS = ("holder", "month", "amount")


def read_month(value: str) -> date:
    """A month as a month input sends it (``2026-03``), or any day of it."""
    return required("month", read("month", value, month_of))


def read_holder(value: str) -> dict[str, uuid.UUID]:
    """The holder select's value: ``user:<id>`` or ``team:<id>``."""
    kind, _, raw = value.partition(":")
    try:
        holder_id = uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed("Choose a salesperson or a team.", field="holder") from None
    if kind not in ("user", "team"):
        raise ValidationFailed("Choose a salesperson or a team.", field="holder")
    return {f"{kind}_id": holder_id}


async def _page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    year: int,
    *,
    form: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Template:
    error: DomainError | None = None
    try:
        shown = await targets.year_attainment(session, actor, year)
    except ValidationFailed as refused:  # a year out of range
        shown, error = [], refused
    can_manage = actor.can(codes.TARGET_MANAGE)
    holders: list[tuple[str, str]] = []
    if can_manage:
        holders = [(f"user:{uid}", name) for uid, name in await choices_of_members(session)]
        holders += [(f"team:{tid}", name) for tid, name in await targets.team_choices(session)]
    return page(
        "crm/targets/index.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else (error.status_code if error else 200),
        year=year,
        shown=shown,
        error=error,
        currency=await base_currency(session),
        form=form or {"holder": "", "month": f"{year:04d}-{contracts.today().month:02d}"},
        refusal=refusal,
        holders=holders,
        can_manage=can_manage,
    )


@get(TAB, guards=[requires(codes.TARGET_READ)])
async def targets_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    year: FromQuery[int | None] = None,
) -> Template:
    return await _page(session, tenant, actor, year or contracts.today().year)


@post(TAB, guards=[requires(codes.TARGET_MANAGE)])
async def set_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    form = typed_in(data, *TARGET_FIELDS)
    shown_year = contracts.today().year

    async def save() -> None:
        nonlocal shown_year
        month = read_month(form["month"])
        amount = required("amount", read_decimal("amount", form["amount"]))
        await targets.set_target(
            session, actor, month=month, amount=amount, **read_holder(form["holder"])
        )
        shown_year = month.year

    async def again(refusal: Refusal) -> Template:
        return await _page(session, tenant, actor, shown_year, form=form, refusal=refusal)

    # Back to the year the target was set in.
    return await answer_form(
        session,
        "target",
        form,
        save,
        back=lambda: f"/t/{tenant.slug}{TAB}?year={shown_year}",
        refused=again,
    )


PAGES = [targets_page, set_from_page]
