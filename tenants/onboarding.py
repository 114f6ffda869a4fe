"""The first-run checklist on the dashboard: what a new workspace's admins set up first.

Each step is read from the data every time (no table of its own), so it is done as soon
as the thing exists, whoever did it and however (a page, the API, an import):

- **company details**: the profile has a legal name or an address;
- **base currency**: the workspace has one (a new workspace gets one from its language,
  so this is usually done at once; it says what prices are in);
- **colleagues invited**: an invitation was sent (pending, accepted or not) or a second
  real member exists (demo people do not count: they are not colleagues);
- **a module enabled**: the workspace has at least one module on;
- **demo data**: the demo company is loaded (:mod:`tenants.demo`).

Whether the checklist is shown at all (every step done, or an admin hid it in this
browser) is the page's affair: see :mod:`web.onboarding`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.i18n import N_
from core.models import Membership, Tenant, User
from core.products.models import Currency
from tenants.demo import DEMO_DOMAIN
from tenants.invitations import Invitation

COMPANY, CURRENCY, COLLEAGUES, MODULE, DEMO = "company", "currency", "colleagues", "module", "demo"


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    label: str  # a msgid
    done: bool
    path: str  # where it is done, relative to the workspace ("" for the demo button)


def _filled(column: object) -> object:
    return func.coalesce(func.trim(column), "") != ""  # type: ignore[arg-type]


async def checklist(session: AsyncSession, ctx: TenantContext) -> list[Step]:
    """The five steps in the order a new workspace does them, each with whether it is done."""
    is_demo = func.lower(User.email).endswith(f".{DEMO_DOMAIN}")
    members = (
        select(func.count())
        .select_from(Membership)
        .join(User, User.id == Membership.user_id)
        .where(~is_demo)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(
                exists().where(
                    and_(
                        Tenant.id == ctx.tenant_id,
                        or_(_filled(Tenant.legal_name), _filled(Tenant.address_line1)),
                    )
                ),
                exists().where(Currency.is_base),
                exists().where(Invitation.id.is_not(None)),
                members,
                exists().where(and_(Membership.user_id == User.id, is_demo)),
            )
        )
    ).one()
    company, currency, invited, real_members, demo = row
    return [
        Step(COMPANY, N_("Fill in your company's details"), company, "/settings/company"),
        Step(CURRENCY, N_("Choose your base currency"), currency, "/settings/currencies"),
        Step(COLLEAGUES, N_("Invite your colleagues"), invited or real_members > 1, "/members"),
        Step(MODULE, N_("Enable a module"), bool(ctx.enabled), "/apps"),
        Step(DEMO, N_("Load demo data to try things out"), demo, ""),
    ]
