"""What page handlers share for their forms: trying a form's action, and what a refused
form shows again (the reason beside its input, with what was typed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DomainError, ValidationFailed


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
