"""The price catalogue: what each module costs, set by the operator, synced to the provider.

A price is never edited in place. Setting one makes the next **version** of the module's
price for that interval and makes the previous version inactive, in one transaction;
the previous row keeps its Stripe price id, so subscriptions made with it keep it and
only new subscriptions take the new price. Nothing is pushed onto existing ones.

Syncing copies a version to the provider (Stripe: a Product per module, a Price per
version, found again by stable names so syncing twice makes nothing twice). It runs
after the price is committed and outside any transaction: a provider that fails leaves
the price saved and "not synced", to be synced again from the console.

Prices are global operator data, so their trail is the global security log
(``core_security_log``, like the platform's purge), not a workspace's audit log:
``operator.price.set``, ``operator.price.synced``, ``operator.price.sync_failed``, with
the operator as the user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import INTERVALS, MAX_TRIAL_DAYS, MONTH, YEAR, BillingPrice
from billing.provider import BillingProvider, ProviderFailed
from core.db import Database
from core.errors import NotFound, ValidationFailed
from core.i18n import N_, gettext, money, ngettext
from core.models import SecurityEvent
from core.plugins.registry import ModuleRegistry
from core.products.currency import check_code, decimals, has_places

PRICE_SET = "operator.price.set"
PRICE_SYNCED = "operator.price.synced"
PRICE_SYNC_FAILED = "operator.price.sync_failed"

#: Stripe takes at most eight digits of minor units; kept for every currency alike.
MAX_AMOUNT = Decimal("999999.99")

INTERVAL_LABELS = {MONTH: N_("Monthly"), YEAR: N_("Yearly")}

# What the landing page and the app store say a module costs.
FLAT = {MONTH: N_("{amount} / month"), YEAR: N_("{amount} / year")}
PER_MEMBER = {MONTH: N_("{amount} per member / month"), YEAR: N_("{amount} per member / year")}
BOTH = N_("{monthly}, or {yearly}")
WITH_TRIAL = N_("{price}; {trial}")
EACH_WITH_TRIAL = N_("{price} ({trial})")

# A serialisation point per module and interval: two operators saving at once make two
# versions one after the other, never two rows with one version number.
_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext('billing_price:' || :module || ':' || :interval))"
)


@dataclass(frozen=True, slots=True)
class PriceChange:
    """A price as the operator sets it (amount in the currency's units: ``Decimal("99")``)."""

    module_key: str
    interval: str
    currency: str
    unit_amount: Decimal
    per_member: bool = False
    trial_days: int = 0

    def checked(self, registry: ModuleRegistry) -> PriceChange:
        """The change with its currency upper-cased; each refusal names its input."""
        if self.module_key not in registry.modules:
            raise ValidationFailed(
                "There is no module {module}.", module=self.module_key, field="module"
            )
        if self.interval not in INTERVALS:
            raise ValidationFailed("Choose monthly or yearly.", field="interval")
        try:
            currency = check_code(self.currency)
        except ValidationFailed as error:
            raise ValidationFailed(error.message, **error.params, field="currency") from None
        amount = self.unit_amount
        if not amount.is_finite() or amount <= 0:
            raise ValidationFailed("The price must be more than zero.", field="unit_amount")
        if amount > MAX_AMOUNT:
            raise ValidationFailed(
                "The price can be at most {max}.", max=str(MAX_AMOUNT), field="unit_amount"
            )
        places = min(2, decimals(currency))
        if not has_places(amount, places):
            raise ValidationFailed(
                "A price in {currency} has at most {places} decimals.",
                currency=currency,
                places=places,
                field="unit_amount",
            )
        if not 0 <= self.trial_days <= MAX_TRIAL_DAYS:
            raise ValidationFailed(
                "Trial days must be between 0 and {max}.", max=MAX_TRIAL_DAYS, field="trial_days"
            )
        return PriceChange(
            self.module_key, self.interval, currency, amount, self.per_member, self.trial_days
        )

    def same_as(self, price: BillingPrice) -> bool:
        return (price.currency, price.unit_amount, price.per_member, price.trial_days) == (
            self.currency,
            self.unit_amount,
            self.per_member,
            self.trial_days,
        )


def lookup_key(module_key: str, interval: str, version: int) -> str:
    return f"atrium.{module_key}.{interval}.v{version}"


def _logged(
    action: str, operator_id: uuid.UUID | None, ip: str | None, **detail: Any
) -> SecurityEvent:
    return SecurityEvent(action=action, user_id=operator_id, ip=ip, detail=detail)


async def set_price(
    session: AsyncSession,
    registry: ModuleRegistry,
    change: PriceChange,
    *,
    operator_id: uuid.UUID | None,
    ip: str | None = None,
) -> BillingPrice:
    """Make ``change`` the module's current price for its interval: a new version, the
    previous one inactive (its Stripe ids kept). Refuses a change that changes nothing."""
    change = change.checked(registry)
    await session.execute(_LOCK, {"module": change.module_key, "interval": change.interval})
    key = (BillingPrice.module_key == change.module_key, BillingPrice.interval == change.interval)
    current = await session.scalar(select(BillingPrice).where(*key, BillingPrice.active))
    if current is not None and change.same_as(current):
        raise ValidationFailed("This is already the current price.")
    version = (await session.scalar(select(func.max(BillingPrice.version)).where(*key)) or 0) + 1
    if current is not None:
        current.active = False
        await session.flush()  # before the insert: one active row per module and interval
    price = BillingPrice(
        module_key=change.module_key,
        interval=change.interval,
        currency=change.currency,
        unit_amount=change.unit_amount,
        per_member=change.per_member,
        trial_days=change.trial_days,
        version=version,
        active=True,
        lookup_key=lookup_key(change.module_key, change.interval, version),
        created_by=operator_id,
    )
    session.add(price)
    session.add(
        _logged(
            PRICE_SET,
            operator_id,
            ip,
            module=price.module_key,
            interval=price.interval,
            version=version,
            currency=price.currency,
            unit_amount=str(price.unit_amount),
            per_member=price.per_member,
            trial_days=price.trial_days,
            previous_version=current.version if current is not None else None,
        )
    )
    await session.flush()
    return price


async def sync_price(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    price_id: uuid.UUID,
    *,
    operator_id: uuid.UUID | None,
    ip: str | None = None,
) -> BillingPrice:
    """Copy one price version to the provider and note its ids there. The provider is
    called outside any transaction; its failure is logged and raised
    (:class:`ProviderFailed`), the price staying as it was (not synced)."""
    async with db.global_transaction() as session:
        price = await session.get(BillingPrice, price_id)
        if price is None:
            raise NotFound("There is no such price.")
    if not provider.external:
        return price
    name = (
        registry.manifest(price.module_key).name
        if price.module_key in registry.modules
        else price.module_key
    )
    detail = {
        "module": price.module_key,
        "interval": price.interval,
        "version": price.version,
        "lookup_key": price.lookup_key,
    }
    try:
        synced = await provider.sync_price(price, name)
    except ProviderFailed as error:
        async with db.global_transaction() as session:
            session.add(
                _logged(
                    PRICE_SYNC_FAILED,
                    operator_id,
                    ip,
                    **detail,
                    message=error.message,
                    params=error.params,
                )
            )
        raise
    async with db.global_transaction() as session:
        price = await session.get_one(BillingPrice, price_id)
        if synced is not None:
            price.stripe_product_id, price.stripe_price_id = synced.product_id, synced.price_id
        session.add(
            _logged(
                PRICE_SYNCED,
                operator_id,
                ip,
                **detail,
                product_id=price.stripe_product_id,
                price_id=price.stripe_price_id,
            )
        )
    return price


async def save_price(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    change: PriceChange,
    *,
    operator_id: uuid.UUID | None,
    ip: str | None = None,
) -> tuple[BillingPrice, ProviderFailed | None]:
    """Set the price (committed), then sync it when the provider is external; the
    provider's refusal is returned, not raised: the price is saved either way."""
    async with db.global_transaction() as session:
        price = await set_price(session, registry, change, operator_id=operator_id, ip=ip)
    try:
        price = await sync_price(db, registry, provider, price.id, operator_id=operator_id, ip=ip)
    except ProviderFailed as error:
        return price, error
    return price, None


# --- reading ---------------------------------------------------------------------------------


async def current_prices(session: AsyncSession) -> list[BillingPrice]:
    """Every module's current price per interval, by module and interval."""
    return list(
        await session.scalars(
            select(BillingPrice)
            .where(BillingPrice.active)
            .order_by(BillingPrice.module_key, BillingPrice.interval)
        )
    )


async def earlier_prices(session: AsyncSession) -> list[BillingPrice]:
    """The versions no longer offered, newest first per module and interval."""
    return list(
        await session.scalars(
            select(BillingPrice)
            .where(BillingPrice.active.is_(False))
            .order_by(BillingPrice.module_key, BillingPrice.interval, BillingPrice.version.desc())
        )
    )


@dataclass(frozen=True, slots=True)
class ShownPrice:
    """What a module's card says it costs, in the current language."""

    text: str
    trial: str  # "14 days free", or "" when there is none or the intervals differ


def price_text(price: BillingPrice) -> str:
    """One price in the reader's language: "¥99.00 / month", "¥20.00 per member / month"."""
    labels = PER_MEMBER if price.per_member else FLAT
    return gettext(labels[price.interval]).format(amount=money(price.unit_amount, price.currency))


def _trial(days: int) -> str:
    return ngettext("{days} day free", "{days} days free", days).format(days=days)


def describe(prices: list[BillingPrice]) -> ShownPrice:
    """One module's current prices as a line: "¥99.00 / month, or ¥990.00 / year; 14 days
    free". When the intervals' trials differ, each piece says its own."""
    ordered = sorted(prices, key=lambda p: INTERVALS.index(p.interval))
    trials = {p.trial_days for p in ordered}
    if len(trials) == 1:
        pieces = [price_text(p) for p in ordered]
    else:
        pieces = [
            gettext(EACH_WITH_TRIAL).format(price=price_text(p), trial=_trial(p.trial_days))
            if p.trial_days
            else price_text(p)
            for p in ordered
        ]
    line = (
        gettext(BOTH).format(monthly=pieces[0], yearly=pieces[1]) if len(pieces) == 2 else pieces[0]
    )
    days = trials.pop() if len(trials) == 1 else 0
    if not days:
        return ShownPrice(line, "")
    trial = _trial(days)
    return ShownPrice(gettext(WITH_TRIAL).format(price=line, trial=trial), trial)


async def shown_prices(session: AsyncSession) -> dict[str, ShownPrice]:
    """Module key -> what it costs, for the modules that have a price."""
    by_module: dict[str, list[BillingPrice]] = {}
    for price in await current_prices(session):
        by_module.setdefault(price.module_key, []).append(price)
    return {key: describe(prices) for key, prices in by_module.items()}
