"""What page handlers share for their forms: reading what was typed (each refusal naming
its input), trying a form's action, and what a refused form shows again (the reason
beside its input, with what was typed)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from litestar import Response
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DomainError, ValidationFailed
from core.exchange.imports import decimal
from core.i18n import N_


@dataclass(frozen=True, slots=True)
class Refusal:
    """A form the services refused: which form, what was typed, why, and beside which
    input (``field``; empty for the form as a whole)."""

    form: str
    typed: dict[str, str]
    error: DomainError
    field: str = ""

    @classmethod
    def of(cls, form: str, typed: dict[str, str], error: DomainError) -> Refusal:
        """The refusal shown beside the input the error names (its ``field`` param), when
        the form has that input."""
        field = str(error.params.get("field", ""))
        return cls(form, typed, error, field if field in typed else "")


async def attempt(
    session: AsyncSession, action: Callable[[], Awaitable[Any]]
) -> DomainError | None:
    """Run a form's action in a savepoint. A refusal (a domain error) is rolled back and
    returned, for the page to show; anything else propagates."""
    try:
        async with session.begin_nested():
            await action()
    except DomainError as error:
        return error
    return None


def optional_day(value: str) -> date | None:
    """A date typed into a filter or form (``2026-03-05``); blank means none."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            "{value} is not a date; use the form {example}.", value=value, example="2026-03-05"
        ) from None


# --- reading what was typed --------------------------------------------------------------------


def typed_in(data: Mapping[str, str], *names: str) -> dict[str, str]:
    """The form's inputs ``names`` as typed (a missing one is blank): what a refusal shows."""
    return {name: data.get(name, "") for name in names}


def read(field: str, value: str, parse: Callable[[str], Any]) -> Any:
    """``parse(value)``; a refusal names ``field`` (the input it belongs to)."""
    try:
        return parse(value)
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **{**error.params, "field": field}) from None


def read_decimal(field: str, value: str, *, blank: Decimal | None = None) -> Decimal | None:
    """A number as typed ("1,234.50", "¥12"); blank is ``blank``."""
    if not value.strip():
        return blank
    return read(field, value, decimal)


def read_id(field: str, value: str) -> uuid.UUID | None:
    """A select's value: blank is none; anything but an id did not come from the list."""
    if not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValidationFailed("Choose one from the list.", field=field) from None


def required_id(field: str, value: str) -> uuid.UUID:
    """A select's value that may not be left blank."""
    return required(field, read_id(field, value), N_("Choose one from the list."))


def maybe_id(value: str) -> uuid.UUID | None:
    """An id from a query or a select, or None for anything else (blank, tampered): for
    what only preselects a choice, where a bad value is no reason to refuse the page."""
    try:
        return uuid.UUID(value.strip()) if value.strip() else None
    except ValueError:
        return None


def read_day(field: str, value: str) -> date | None:
    """A date (``2026-03-05``); blank is none."""
    return read(field, value, optional_day)


def read_count(field: str, value: str) -> int:
    """A whole number that must be typed."""
    try:
        return int(value.strip())
    except ValueError:
        raise ValidationFailed("Enter a whole number.", field=field) from None


def required(field: str, value: Any, message: str = "Fill this in.") -> Any:
    """A form's value that may not be left out (None)."""
    if value is None:
        raise ValidationFailed(message, field=field)
    return value


def read_version(value: str) -> int | UnsetType:
    """The version an edit form was loaded at (its hidden input); UNSET when missing or
    tampered with, so the save goes unchecked rather than refused for it."""
    return int(value) if value.isdigit() else UNSET


def saved_since(
    form: dict[str, str],
    current: Mapping[str, str],
    labels: Mapping[str, str],
    names: Mapping[str, str],
) -> list[tuple[str, str]]:
    """After a stale save (409): what another person saved since the form was loaded, where
    it differs from the typing (kept in ``form``), as (label, value shown by ``names``) —
    and the form takes the version now saved, so saving again is a choice, not a race."""
    saved = [
        (label, names.get(current[name], current[name]))
        for name, label in labels.items()
        if name in form and form[name] != current[name]
    ]
    form["version"] = current["version"]
    return saved


async def answer_form(
    session: AsyncSession,
    form: str,
    form_typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
    *,
    back: str | Callable[[], str],
    refused: Callable[[Refusal], Awaitable[Response[Any]]],
) -> Response[Any]:
    """A form's action in a savepoint: then to ``back`` (or where ``back()`` says, once the
    action has run), or ``refused(refusal)`` — the page again with the reason beside its
    input and what was typed (its 4xx status rolls the request back)."""
    error = await attempt(session, action)
    if error is not None:
        return await refused(Refusal.of(form, form_typed, error))
    return Redirect(back if isinstance(back, str) else back(), status_code=HTTP_303_SEE_OTHER)
