"""Calling hooks from async code: implementations may return values or awaitables."""

from __future__ import annotations

import inspect
from typing import Any


async def resolve(results: Any) -> Any:
    """Await what needs awaiting: a single result or each item of a list of results."""
    if isinstance(results, list):
        return [await resolve(item) for item in results]
    if inspect.isawaitable(results):
        return await results
    return results


async def collect(results: list[Any]) -> list[Any]:
    """Flatten per-module lists of contributions (widgets, search hits, panels) into one."""
    flat: list[Any] = []
    for item in await resolve(results):
        flat.extend(item or [])
    return flat
