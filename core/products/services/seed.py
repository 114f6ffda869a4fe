"""What a new workspace starts with: its base currency, tax rates and common units."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import N_, check_locale, use_locale
from core.i18n import gettext as _
from core.products import currency, tax
from core.products.models import UnitOfMeasure
from core.products.services.units import add_conversion, create_unit

DEFAULT_UNITS = (
    ("pcs", N_("Piece"), "unit"),
    ("dozen", N_("Dozen"), "unit"),
    ("kg", N_("Kilogram"), "weight"),
    ("g", N_("Gram"), "weight"),
    ("t", N_("Tonne"), "weight"),
    ("m", N_("Metre"), "length"),
    ("cm", N_("Centimetre"), "length"),
    ("km", N_("Kilometre"), "length"),
    ("m2", N_("Square metre"), "area"),
    ("L", N_("Litre"), "volume"),
    ("mL", N_("Millilitre"), "volume"),
    ("h", N_("Hour"), "time"),
    ("day", N_("Working day"), "time"),
)
DEFAULT_CONVERSIONS = (
    ("dozen", "pcs", 12),
    ("kg", "g", 1000),
    ("t", "kg", 1000),
    ("m", "cm", 100),
    ("km", "m", 1000),
    ("L", "mL", 1000),
    ("day", "h", 8),
)


async def seed_units(session: AsyncSession) -> None:
    """Common units and the conversions between them; keeps units already there.

    Call inside ``core.i18n.use_locale(locale)`` so the names are translated.
    """
    if await session.scalar(select(UnitOfMeasure.id).limit(1)) is not None:
        return
    made = {
        code: await create_unit(session, code, _(name), dimension)
        for code, name, dimension in DEFAULT_UNITS
    }
    for source, target, factor in DEFAULT_CONVERSIONS:
        await add_conversion(session, made[source].id, made[target].id, factor)


async def seed_defaults(session: AsyncSession, locale: str) -> None:
    """What a new workspace starts with, from its language: the base currency (CNY for
    zh-CN, USD for en), the PRC's VAT rates for zh-CN, and common units.

    Safe to run again: each part is skipped once the workspace has its own.
    """
    check_locale(locale)
    with use_locale(locale):
        await currency.seed_base_currency(session, locale)
        await tax.seed_tax_rates(session, locale)
        await seed_units(session)
