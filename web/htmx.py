"""How a page handler tells an htmx swap from a navigation (DESIGN: a partial only for
non-boosted htmx requests)."""

from __future__ import annotations

from typing import Any

from litestar import Request


def wants_partial(request: Request[Any, Any, Any]) -> bool:
    """An htmx request for a fragment; a boosted navigation still wants the whole page."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"
