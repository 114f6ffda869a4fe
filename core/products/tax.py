"""Tax rates (VAT) per workspace, and the arithmetic on them.

Decisions:

- A rate is stored as a fraction with four places: 13 % is ``0.1300``. Arithmetic
  then needs no division by 100, and rates such as 1.5 % or 3.25 % fit.
- A rate is for sales, purchases or both. Each kind has at most one default; for a
  use (sale or purchase) the default of that kind wins over the default for both.
- A rate's value never changes once created: products and documents point at it,
  and an invoice must keep the tax it was issued with. To change a rate, create a
  new one and deactivate the old (as Odoo asks once a tax has been used).
- Amounts round half-up to cents. A gross amount splits as net = gross / (1 + rate),
  rounded, and tax = gross - net, so net + tax is always the gross (the way a
  Chinese VAT invoice shows 金额 and 税额 for a 价税合计).
- A zh-CN workspace starts with the PRC's VAT rates: 13 % (goods, the default),
  9 %, 6 % and 0 %. An English workspace starts with none: there is no good guess.
- Creating and changing a rate is written to the audit log in its transaction
  (seeding a new workspace is not).
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import NamedTuple

from msgspec import UNSET, UnsetType
from sqlalchemy import case, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.db import assign_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import gettext as _
from core.products.currency import has_places, to_decimal
from core.products.models import TAX_KINDS, TaxRate

CENT = Decimal("0.01")
RATE_PLACES = 4
PRC_VAT_RATES = (Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal(0))
USES = ("sale", "purchase")

_LOCK_DEFAULTS = text(
    "SELECT pg_advisory_xact_lock(hashtext('tax:' || current_setting('app.tenant_id')))"
)


class TaxSplit(NamedTuple):
    """An amount with its tax: ``net + tax == gross``."""

    net: Decimal
    tax: Decimal
    gross: Decimal


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def check_rate(rate: Decimal | int) -> Decimal:
    """A rate as a fraction: from 0 to below 1, at most four decimal places."""
    rate = to_decimal(rate)
    if not (0 <= rate < 1) or not has_places(rate, RATE_PLACES):
        raise ValidationFailed(
            "A tax rate is a fraction from 0 to below 1 with at most {places} decimal "
            "places (13 % is 0.13).",
            places=RATE_PLACES,
        )
    return rate


def tax_amount(net: Decimal | int, rate: Decimal | int) -> Decimal:
    """The tax on a net amount, rounded half-up to cents."""
    return _cents(to_decimal(net) * check_rate(rate))


def from_net(net: Decimal | int, rate: Decimal | int) -> TaxSplit:
    """A net (tax-exclusive) amount with its tax and gross."""
    net = _cents(to_decimal(net))
    tax = tax_amount(net, rate)
    return TaxSplit(net=net, tax=tax, gross=net + tax)


def from_gross(gross: Decimal | int, rate: Decimal | int) -> TaxSplit:
    """A gross (tax-inclusive) amount split into net and tax."""
    gross = _cents(to_decimal(gross))
    rate = check_rate(rate)
    with localcontext() as context:
        context.prec = 40
        net = _cents(gross / (1 + rate))
    return TaxSplit(net=net, tax=gross - net, gross=gross)


def percent_label(rate: Decimal) -> str:
    """``0.1300`` → ``"13"``, ``0.0150`` → ``"1.5"``: the rate as people write it."""
    return f"{(rate * 100).normalize():f}"


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A tax rate's name has 1 to 100 characters.")
    return name


def _kind(kind: str) -> str:
    if kind not in TAX_KINDS:
        raise ValidationFailed("A tax rate is for {kinds}.", kinds=", ".join(TAX_KINDS))
    return kind


async def get_tax_rate(session: AsyncSession, tax_rate_id: uuid.UUID) -> TaxRate:
    tax = await session.scalar(select(TaxRate).where(TaxRate.id == tax_rate_id))
    if tax is None:
        raise NotFound("No tax rate {id}.", id=str(tax_rate_id))
    return tax


async def _save(session: AsyncSession, tax: TaxRate, name: str) -> None:
    if not await assign_unique(session, tax, {"name": name}):
        raise Conflict("There is already a tax rate called {name}.", name=name)


async def _make_default(session: AsyncSession, tax: TaxRate) -> None:
    """Make ``tax`` its kind's default, in place of the previous one."""
    await session.execute(_LOCK_DEFAULTS)  # two admins at once: the second replaces the first
    await session.execute(
        update(TaxRate)
        .where(TaxRate.is_default, TaxRate.kind == tax.kind, TaxRate.id != tax.id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    tax.is_default = True
    await session.flush()


def _state(tax: TaxRate) -> dict[str, object]:
    """What the audit log keeps of a rate (JSON: the rate as a decimal string)."""
    return {
        "name": tax.name,
        "rate": str(tax.rate),
        "kind": tax.kind,
        "active": tax.active,
        "is_default": tax.is_default,
    }


async def create_tax_rate(
    session: AsyncSession,
    name: str,
    rate: Decimal | int,
    *,
    kind: str = "both",
    is_default: bool = False,
    actor_id: uuid.UUID | None = None,
) -> TaxRate:
    tax = await _create(session, name, rate, kind=kind, is_default=is_default)
    await audit.record(
        session,
        "core.tax_rate.created",
        actor_id=actor_id,
        subject_type="core.tax_rate",
        subject_id=tax.id,
        detail=_state(tax),
    )
    return tax


async def _create(
    session: AsyncSession,
    name: str,
    rate: Decimal | int,
    *,
    kind: str = "both",
    is_default: bool = False,
) -> TaxRate:
    tax = TaxRate(
        rate=check_rate(rate).quantize(Decimal(1).scaleb(-RATE_PLACES)),  # as it is stored
        kind=_kind(kind),
        active=True,
        is_default=False,
    )
    await _save(session, tax, _name(name))
    if is_default:
        await _make_default(session, tax)
    return tax


async def update_tax_rate(
    session: AsyncSession,
    tax_rate_id: uuid.UUID,
    *,
    name: str | UnsetType = UNSET,
    active: bool | UnsetType = UNSET,
    is_default: bool | UnsetType = UNSET,
    rate: Decimal | int | UnsetType = UNSET,
    kind: str | UnsetType = UNSET,
    actor_id: uuid.UUID | None = None,
) -> TaxRate:
    """Rename, (de)activate or make default; the rate and kind never change (see above).

    ``rate`` and ``kind`` may be sent as they are (a client echoing the whole rate
    back); a different value is refused.
    """
    tax = await get_tax_rate(session, tax_rate_id)
    if (rate is not UNSET and to_decimal(rate) != tax.rate) or (
        kind is not UNSET and kind != tax.kind
    ):
        raise ValidationFailed(
            "A tax rate's value and kind never change once created: create a new rate "
            "and archive this one."
        )
    before = _state(tax)
    if name is not UNSET:
        await _save(session, tax, _name(name))
    if active is not UNSET:
        tax.active = active
        if not active:
            tax.is_default = False  # a rate no longer offered cannot be proposed first
    if is_default is True:
        if not tax.active:
            raise ValidationFailed("Only an active tax rate can be the default.")
        await _make_default(session, tax)
    elif is_default is False:
        tax.is_default = False
    await session.flush()
    after = _state(tax)
    if after != before:
        await audit.record(
            session,
            "core.tax_rate.changed",
            actor_id=actor_id,
            subject_type="core.tax_rate",
            subject_id=tax.id,
            detail={"before": before, "after": after},
        )
    return tax


def _for_use(use: str) -> tuple[str, str]:
    if use not in USES:
        raise ValidationFailed("A tax rate is used for {uses}.", uses=", ".join(USES))
    return (use, "both")


async def tax_rates(
    session: AsyncSession, *, use: str | None = None, include_inactive: bool = False
) -> list[TaxRate]:
    """The workspace's tax rates (for a sale or a purchase when ``use`` says), highest first."""
    query = select(TaxRate).order_by(TaxRate.rate.desc(), TaxRate.name)
    if use is not None:
        query = query.where(TaxRate.kind.in_(_for_use(use)))
    if not include_inactive:
        query = query.where(TaxRate.active)
    return list(await session.scalars(query))


async def default_tax_rate(session: AsyncSession, use: str) -> TaxRate | None:
    """The rate a new sale or purchase line starts with: that use's default, else both's."""
    return await session.scalar(
        select(TaxRate)
        .where(TaxRate.is_default, TaxRate.kind.in_(_for_use(use)))
        .order_by(case((TaxRate.kind == use, 0), else_=1))
        .limit(1)
    )


async def seed_tax_rates(session: AsyncSession, locale: str) -> None:
    """A new zh-CN workspace's VAT rates, named in its language; keeps rates already there.

    Call inside ``core.i18n.use_locale(locale)`` so the names are translated.
    """
    if locale != "zh-CN" or await session.scalar(select(TaxRate.id).limit(1)) is not None:
        return
    for rate in PRC_VAT_RATES:
        await _create(
            session,
            _("VAT {rate}%").format(rate=percent_label(rate)),
            rate,
            is_default=rate == PRC_VAT_RATES[0],
        )
