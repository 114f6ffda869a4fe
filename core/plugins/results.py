"""What per-request contribution hooks return: plain records the web layer renders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class WidgetData:
    """Data for a dashboard widget a module declared (``module.widget`` key)."""

    key: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchResult:
    title: str
    url: str
    module: str
    kind: str = ""
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel on a record page: a template of the contributing module and its context."""

    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100


# --- approvals waiting (atrium_approvals_waiting) ---


@dataclass(frozen=True, slots=True)
class WaitingApprovals:
    """How many approvals a module's own engine holds waiting for the reader (counted up to
    the cap it was given), and the page under the workspace that lists them."""

    count: int
    path: str
