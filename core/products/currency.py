"""Currencies, the workspace's base currency, exchange rates by date, and conversion.

Decisions:

- Codes are ISO 4217. How many decimals an amount has comes from CLDR through
  Babel (JPY 0, CNY 2, BHD 3), so amounts round the way the currency is written.
- A workspace has exactly one base currency: every price, cost and ledger amount
  is in it. A new workspace gets CNY when its language is zh-CN and USD when it is
  en (:data:`DEFAULT_BASE_CURRENCY`): a zh-CN workspace is nearly always a company
  in mainland China, and for an English one USD is the least surprising guess. The
  owner can change it until it is in use.
- It is in use, and then cannot change (Odoo and Kingdee refuse too), once an
  exchange rate or a numbered document exists: rates are quoted against it, and
  every business document takes its number from :mod:`core.numbering`, so a counter
  that has moved means documents whose amounts are in the base currency.
- A rate says how many units of the base currency one unit of the foreign currency
  is worth ("1 USD = 7.1 CNY" is stored as 7.10000000 for USD), the way Chinese
  banks quote it. The rate for a day is the latest one on or before it, since rates
  are not entered on weekends and holidays.
- Every change a person makes (enabling, disabling, the base currency, a rate) is
  written to the audit log in its transaction; seeding a new workspace is not.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from babel.numbers import get_currency_precision, is_currency
from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.errors import Conflict, NotFound, TenantMismatchError, ValidationFailed
from core.models import NumberCounter
from core.orm import uuid7
from core.products.models import Currency, ExchangeRate

DEFAULT_BASE_CURRENCY = {"zh-CN": "CNY", "en": "USD"}
RATE_PLACES = 8
WORKING_PRECISION = 40  # digits kept between conversion steps, rounded once at the end

# Exclusive while the base currency changes, shared while a rate is written: a rate
# can then never slip in against the base currency being replaced.
_LOCK_EXCLUSIVE = text(
    "SELECT pg_advisory_xact_lock(hashtext('currency:' || current_setting('app.tenant_id')))"
)
_LOCK_SHARED = text(
    "SELECT pg_advisory_xact_lock_shared(hashtext('currency:' || current_setting('app.tenant_id')))"
)


def to_decimal(value: Decimal | int) -> Decimal:
    """Money, rates and quantities are Decimal (an int is exact too); a float never is."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"expected a Decimal, got {type(value).__name__}")
    value = Decimal(value)
    if not value.is_finite():
        raise ValidationFailed("A number must be finite.")
    return value


def has_places(value: Decimal, places: int) -> bool:
    """Whether ``value`` is written with at most ``places`` decimals (1.50 has 2, 1.5E-7 has 8)."""
    exponent = value.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -places


def check_code(code: str) -> str:
    """An ISO 4217 code, upper-cased: ``"cny"`` → ``"CNY"``."""
    normalised = code.strip().upper()
    if len(normalised) != 3 or not normalised.isascii() or not is_currency(normalised):
        raise ValidationFailed("{code} is not an ISO 4217 currency code.", code=code)
    return normalised


def decimals(code: str) -> int:
    """How many decimals an amount in ``code`` has (JPY 0, CNY 2, BHD 3)."""
    return get_currency_precision(check_code(code))


def round_amount(amount: Decimal | int, code: str) -> Decimal:
    """``amount`` rounded half-up to the currency's decimals."""
    return to_decimal(amount).quantize(Decimal(1).scaleb(-decimals(code)), ROUND_HALF_UP)


def _tenant_id(session: AsyncSession) -> uuid.UUID:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        raise TenantMismatchError("Currencies are kept inside a tenant's session")
    return tenant_id


async def _currency(session: AsyncSession, code: str) -> Currency | None:
    return await session.scalar(select(Currency).where(Currency.code == code))


async def enable_currency(
    session: AsyncSession, code: str, *, actor_id: uuid.UUID | None = None
) -> Currency:
    """Let the workspace use ``code`` (again); its earlier rates come back with it."""
    code = check_code(code)
    before = await _currency(session, code)
    was_active = before is not None and before.active
    currency = await _enable(session, code)
    if not was_active:
        await audit.record(
            session,
            "core.currency.enabled",
            actor_id=actor_id,
            subject_type="core.currency",
            subject_id=currency.id,
            detail={"code": code},
        )
    return currency


async def _enable(session: AsyncSession, code: str) -> Currency:
    await session.execute(
        insert(Currency)
        .values(tenant_id=_tenant_id(session), id=uuid7(), code=code, is_base=False, active=True)
        .on_conflict_do_update(index_elements=["tenant_id", "code"], set_={"active": True})
    )
    currency = await session.scalar(
        select(Currency).where(Currency.code == code).execution_options(populate_existing=True)
    )
    assert currency is not None
    return currency


async def disable_currency(
    session: AsyncSession, code: str, *, actor_id: uuid.UUID | None = None
) -> Currency:
    """Stop offering ``code`` for new work; its rates stay for the documents that used them."""
    code = check_code(code)
    currency = await _currency(session, code)
    if currency is None or not currency.active:
        raise NotFound("The currency {code} is not enabled.", code=code)
    if currency.is_base:
        raise Conflict("The base currency {code} cannot be disabled.", code=code)
    currency.active = False
    await session.flush()
    await audit.record(
        session,
        "core.currency.disabled",
        actor_id=actor_id,
        subject_type="core.currency",
        subject_id=currency.id,
        detail={"code": code},
    )
    return currency


async def currencies(session: AsyncSession) -> list[Currency]:
    """The enabled currencies, the base currency first."""
    return list(
        await session.scalars(
            select(Currency).where(Currency.active).order_by(Currency.is_base.desc(), Currency.code)
        )
    )


async def base_currency(session: AsyncSession) -> str:
    """The workspace's base currency code."""
    code = await session.scalar(select(Currency.code).where(Currency.is_base))
    if code is None:
        raise ValidationFailed("Set the workspace's base currency first.")
    return code


async def base_currency_in_use(session: AsyncSession) -> bool:
    """True once exchange rates or numbered documents exist (see the module's notes)."""
    return bool(
        await session.scalar(
            select(
                or_(
                    select(ExchangeRate.id).exists(),
                    select(NumberCounter.id).where(NumberCounter.last_value > 0).exists(),
                )
            )
        )
    )


async def set_base_currency(
    session: AsyncSession, code: str, *, actor_id: uuid.UUID | None = None
) -> Currency:
    """Make ``code`` the base currency (enabling it); refused once the old one is in use."""
    code = check_code(code)
    await session.execute(_LOCK_EXCLUSIVE)
    current = await session.scalar(select(Currency).where(Currency.is_base))
    if current is not None and current.code == code:
        return current
    before = None if current is None else current.code
    currency = await _replace_base(session, current, code)
    await audit.record(
        session,
        "core.currency.base_changed",
        actor_id=actor_id,
        subject_type="core.currency",
        subject_id=currency.id,
        detail={"before": before, "after": code},
    )
    return currency


async def _replace_base(session: AsyncSession, current: Currency | None, code: str) -> Currency:
    """Make ``code`` the base in place of ``current`` (under the exclusive lock)."""
    if current is not None:
        if await base_currency_in_use(session):
            raise Conflict(
                "The base currency cannot change from {old} to {new}: exchange rates or "
                "documents already use it.",
                old=current.code,
                new=code,
            )
        current.is_base = False
        await session.flush()  # the partial unique index allows one base at a time
    currency = await _enable(session, code)
    currency.is_base = True
    await session.flush()
    return currency


def _check_rate(rate: Decimal | int) -> Decimal:
    rate = to_decimal(rate)
    if rate <= 0 or not has_places(rate, RATE_PLACES) or rate >= Decimal("1e10"):
        raise ValidationFailed(
            "An exchange rate is a positive number below 10,000,000,000 "
            "with at most {places} decimal places.",
            places=RATE_PLACES,
        )
    return rate


async def set_rate(
    session: AsyncSession,
    code: str,
    valid_on: date,
    rate: Decimal | int,
    *,
    actor_id: uuid.UUID | None = None,
) -> ExchangeRate:
    """Record (or correct) what one unit of ``code`` is worth in the base currency from a day."""
    code = check_code(code)
    rate = _check_rate(rate)
    await session.execute(_LOCK_SHARED)
    if code == await base_currency(session):
        raise ValidationFailed("The base currency {code} is always worth 1.", code=code)
    currency = await _currency(session, code)
    if currency is None or not currency.active:
        raise ValidationFailed("Enable {code} before entering its rates.", code=code)
    previous = await session.scalar(
        select(ExchangeRate.rate).where(
            ExchangeRate.currency == code, ExchangeRate.valid_on == valid_on
        )
    )
    await session.execute(
        insert(ExchangeRate)
        .values(
            tenant_id=_tenant_id(session), id=uuid7(), currency=code, valid_on=valid_on, rate=rate
        )
        .on_conflict_do_update(
            index_elements=["tenant_id", "currency", "valid_on"], set_={"rate": rate}
        )
    )
    stored = await session.scalar(
        select(ExchangeRate)
        .where(ExchangeRate.currency == code, ExchangeRate.valid_on == valid_on)
        .execution_options(populate_existing=True)
    )
    assert stored is not None
    await audit.record(
        session,
        "core.exchange_rate.set",
        actor_id=actor_id,
        subject_type="core.exchange_rate",
        subject_id=stored.id,
        detail={
            "currency": code,
            "valid_on": valid_on.isoformat(),
            "rate": str(stored.rate),
            "before": None if previous is None else str(previous),
        },
    )
    return stored


async def delete_rate(
    session: AsyncSession, code: str, valid_on: date, *, actor_id: uuid.UUID | None = None
) -> None:
    """Remove a rate entered by mistake; the day then falls back to the rate before it."""
    code = check_code(code)
    rate = await session.scalar(
        select(ExchangeRate).where(ExchangeRate.currency == code, ExchangeRate.valid_on == valid_on)
    )
    if rate is None:
        raise NotFound(
            "There is no {currency} rate for {day}.", currency=code, day=valid_on.isoformat()
        )
    await session.delete(rate)
    await session.flush()
    await audit.record(
        session,
        "core.exchange_rate.deleted",
        actor_id=actor_id,
        subject_type="core.exchange_rate",
        subject_id=rate.id,
        detail={"currency": code, "valid_on": valid_on.isoformat(), "rate": str(rate.rate)},
    )


async def rates(session: AsyncSession, code: str) -> list[ExchangeRate]:
    """The rates of ``code``, newest first."""
    code = check_code(code)
    return list(
        await session.scalars(
            select(ExchangeRate)
            .where(ExchangeRate.currency == code)
            .order_by(ExchangeRate.valid_on.desc())
        )
    )


async def rate_on(session: AsyncSession, code: str, day: date) -> Decimal:
    """Units of the base currency per unit of ``code`` on ``day``: the latest rate on or
    before it (1 for the base currency itself)."""
    return (await effective_rate(session, code, day))[0]


async def effective_rate(
    session: AsyncSession, code: str, day: date
) -> tuple[Decimal, date | None]:
    """The rate of ``code`` on ``day`` and the day that rate was entered for (None for the
    base currency, which is always worth 1)."""
    code = check_code(code)
    if code == await base_currency(session):
        return Decimal(1), None
    row = (
        await session.execute(
            select(ExchangeRate.rate, ExchangeRate.valid_on)
            .where(ExchangeRate.currency == code, ExchangeRate.valid_on <= day)
            .order_by(ExchangeRate.valid_on.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        raise ValidationFailed(
            "There is no exchange rate for {currency} on or before {day}.",
            currency=code,
            day=day.isoformat(),
        )
    return row.rate, row.valid_on


async def convert_amount(
    session: AsyncSession, amount: Decimal | int, from_code: str, to_code: str, day: date
) -> Decimal:
    """``amount`` of ``from_code`` in ``to_code`` at the rates of ``day``, through the base
    currency, rounded half-up once to the target currency's decimals."""
    amount = to_decimal(amount)
    from_code, to_code = check_code(from_code), check_code(to_code)
    if from_code == to_code:
        return round_amount(amount, to_code)
    from_rate = await rate_on(session, from_code, day)
    to_rate = await rate_on(session, to_code, day)
    with localcontext() as context:
        context.prec = WORKING_PRECISION
        converted = amount * from_rate / to_rate
    return round_amount(converted, to_code)


async def seed_base_currency(session: AsyncSession, locale: str) -> None:
    """Give a new workspace its base currency from its language; keeps one already set."""
    await session.execute(_LOCK_EXCLUSIVE)
    if await session.scalar(select(Currency.id).where(Currency.is_base)) is None:
        await _replace_base(session, None, DEFAULT_BASE_CURRENCY.get(locale, "USD"))
