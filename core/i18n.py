"""Translations (zh-CN and en) and locale-aware formatting.

Catalogs are gettext ``.po`` files read with Babel at first use: core's in
``web/translations`` and each module's in ``<package>/translations``. The
locale of the work in hand lives in a context variable set per request.
Message ids are the English text, so ``en`` needs no catalog.

:func:`extract_python` is the Babel extractor for our sources (see
``babel.cfg`` and ``docs/i18n.md``): besides the gettext functions it finds
the msgids given to domain errors and to manifest records.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

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


def check_locale(locale: str) -> str:
    """A user's or workspace's language must be one Atrium speaks."""
    from core.errors import ValidationFailed

    if locale not in SUPPORTED:
        raise ValidationFailed("Language must be one of {locales}.", locales=", ".join(SUPPORTED))
    return locale


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


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translate it where shown)."""
    return message


N_ = gettext_noop


def negotiate(*candidates: str | None, accept_language: str | None = None) -> str:
    """The first supported locale among explicit choices, then the Accept-Language header."""
    return first_supported(*candidates, accept_language=accept_language) or DEFAULT


def first_supported(*candidates: str | None, accept_language: str | None = None) -> str | None:
    """Like :func:`negotiate`, but None when nothing matches (the caller has more sources)."""
    for candidate in candidates:
        if candidate:
            found = _match(candidate)
            if found:
                return found
    for tag in _by_preference(accept_language or ""):
        found = _match(tag)
        if found:
            return found
    return None


def _by_preference(header: str) -> list[str]:
    """Accept-Language tags by descending ``q`` (stable), without those refused (``q=0``)."""
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            weighted.append((quality, tag))
    return [tag for _, tag in sorted(weighted, key=lambda pair: -pair[0])]


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


# -- extraction ---------------------------------------------------------------


#: Calls whose arguments are msgids, beyond the gettext functions: the name of
#: the callable -> (1-based position, keyword name) of each msgid argument.
#: Positional or keyword, both are found; anything but a literal string is not.
def _domain_errors() -> list[str]:
    """Every error class of core.errors: each takes its msgid first (no list to keep in step)."""
    from core.errors import DomainError

    found, pending = [], [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls.__name__)
        pending.extend(cls.__subclasses__())
    return found


MESSAGE_ARGUMENTS: dict[str, tuple[tuple[int, str], ...]] = {
    "gettext_noop": ((1, "message"),),
    **dict.fromkeys(_domain_errors(), ((1, "message"),)),
    "Permission": ((2, "label"),),
    "MenuEntry": ((1, "label"),),
    "ApprovalKind": ((2, "label"),),
    "DashboardWidget": ((2, "title"),),
    "ModuleManifest": ((2, "name"), (4, "summary")),
    "compose": ((3, "subject"), (4, "body")),  # core.mail: a message's subject and body
}


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(str(v.value) for v in node.values)  # type: ignore[attr-defined]
    return None  # a name, an f-string with fields, a call: not a msgid


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):  # errors.NotFound(...), i18n.gettext(...)
        return node.func.attr
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) >= position and not any(
        isinstance(a, ast.Starred) for a in call.args[:position]
    ):
        return call.args[position - 1]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _translator_comments(lines: list[str], lineno: int, tags: Collection[str]) -> list[str]:
    """The comment block right above line ``lineno`` if it starts with a tag (``Translators:``)."""
    block: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        block.insert(0, lines[index].strip()[1:].strip())
        index -= 1
    for start, text in enumerate(block):
        if any(text.startswith(tag) for tag in tags):
            return block[start:]
    return []


def extract_python(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str | None, str | tuple[str | None, ...], list[str]]]:
    """Babel extractor: gettext calls, domain errors and manifest records.

    Calls named in :data:`MESSAGE_ARGUMENTS` yield each msgid argument, by
    position or keyword. Any other call named in Babel's ``keywords`` (``_``,
    ``gettext``, ``ngettext``, ``N_``, or names added with ``keywords =`` in
    ``babel.cfg``, e.g. a module's own error class) yields its positional
    arguments, and Babel picks the msgids by the keyword's spec (``name:2``).
    """
    source = fileobj.read()
    encoding = options.get("encoding", "utf-8")
    text = source.decode(encoding) if isinstance(source, bytes) else source
    tree = ast.parse(text, filename=getattr(fileobj, "name", "<unknown>"))
    lines = text.splitlines()
    calls = sorted(
        (n for n in ast.walk(tree) if isinstance(n, ast.Call)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    for node in calls:
        name = _call_name(node)
        if name is None:
            continue
        comments = _translator_comments(lines, node.lineno, comment_tags)
        if name in MESSAGE_ARGUMENTS:
            for position, keyword in MESSAGE_ARGUMENTS[name]:
                argument = _argument(node, position, keyword)
                message = _literal(argument)
                if argument is not None and message:
                    yield argument.lineno, None, message, comments
        elif name in keywords:
            if not node.args or any(isinstance(a, ast.Starred) for a in node.args):
                continue
            messages = tuple(_literal(a) for a in node.args)
            yield node.lineno, name, messages if len(messages) > 1 else messages[0], comments
