"""Translations (zh-CN and en) and locale-aware formatting.

Catalogs are gettext ``.po`` files read with Babel at first use: core's in
``web/translations`` and each module's in ``<package>/translations``. The
locale of the work in hand lives in a context variable set per request.
Message ids are the English text, so ``en`` needs no catalog.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

SUPPORTED = ("en", "zh-CN")
DEFAULT = "en"
CORE_CATALOGS = Path(__file__).resolve().parent.parent / "web" / "translations"
DOMAIN = "messages"

current_locale: ContextVar[str] = ContextVar("atrium_locale", default=DEFAULT)
_catalog_dirs: list[Path] = [CORE_CATALOGS]


def add_catalog_dir(path: Path) -> None:
    """Let a module's ``translations`` folder contribute messages."""
    if path not in _catalog_dirs and path.is_dir():
        _catalog_dirs.append(path)
        _messages.cache_clear()


def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale.replace("-", "_"))


@lru_cache(maxsize=8)
def _messages(locale: str) -> dict[str, str]:
    folder = locale.replace("-", "_")
    messages: dict[str, str] = {}
    for base in _catalog_dirs:
        po = base / folder / "LC_MESSAGES" / f"{DOMAIN}.po"
        if not po.is_file():
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=folder)
        for message in catalog:
            if message.id and message.string and not message.fuzzy:
                key = message.id[0] if isinstance(message.id, tuple) else message.id
                messages[key] = message.string  # type: ignore[assignment]
    return messages


def gettext(message: str) -> str:
    translated = _messages(current_locale.get()).get(message) if message else None
    return translated if isinstance(translated, str) else message


def ngettext(singular: str, plural: str, n: int) -> str:
    translated = _messages(current_locale.get()).get(singular)
    if isinstance(translated, tuple | list):
        return translated[0] if n == 1 or len(translated) == 1 else translated[1]
    if isinstance(translated, str):
        return translated
    return singular if n == 1 else plural


_ = gettext


def negotiate(*candidates: str | None, accept_language: str | None = None) -> str:
    """The first supported locale among explicit choices, then the Accept-Language header."""
    for candidate in candidates:
        if candidate:
            found = _match(candidate)
            if found:
                return found
    for part in (accept_language or "").split(","):
        found = _match(part.split(";")[0].strip())
        if found:
            return found
    return DEFAULT


def _match(tag: str) -> str | None:
    tag = tag.replace("_", "-").lower()
    for locale in SUPPORTED:
        if tag == locale.lower():
            return locale
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return None


@contextlib.contextmanager
def use_locale(locale: str) -> Iterator[None]:
    token = current_locale.set(locale if locale in SUPPORTED else DEFAULT)
    try:
        yield
    finally:
        current_locale.reset(token)


def money(amount: Decimal, currency: str) -> str:
    return format_currency(amount, currency, locale=babel_locale(current_locale.get()))


def number(value: Decimal | int | float) -> str:
    return format_decimal(value, locale=babel_locale(current_locale.get()))


def when(value: date | datetime) -> str:
    locale = babel_locale(current_locale.get())
    if isinstance(value, datetime):
        return format_datetime(value, format="medium", locale=locale)
    return format_date(value, format="medium", locale=locale)
