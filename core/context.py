"""Who and where a piece of work runs for: the tenant, its enabled modules, the locale."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TenantContext:
    """A tenant as a request, a handler or a job sees it.

    ``enabled`` holds the module keys the tenant has on right now; hooks and
    event handlers of other modules are not called for it. ``read_only`` holds those
    of them that read but take no writes (unpaid: :mod:`billing.entitlements`).
    """

    tenant_id: uuid.UUID
    slug: str
    enabled: frozenset[str] = field(default_factory=frozenset)
    read_only: frozenset[str] = field(default_factory=frozenset)
    locale: str = "en"
    user_id: uuid.UUID | None = None
