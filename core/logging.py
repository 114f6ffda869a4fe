"""Logging with the request id and tenant in every line.

The web layer and the worker set the context variables (the request id, and
the tenant's id once it is resolved); a filter copies them onto each record,
so ``%(request_id)s`` and ``%(tenant)s`` work in any handler's format.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("atrium_request_id", default="-")
tenant: ContextVar[str] = ContextVar("atrium_tenant", default="-")

FORMAT = "%(asctime)s %(levelname)s [req=%(request_id)s tenant=%(tenant)s] %(name)s: %(message)s"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.tenant = tenant.get()
        return True


def configure(level: str = "INFO") -> None:
    """Route all logs through one handler that adds request id and tenant."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The embedded server narrates every start at INFO; its warnings still show.
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, root.level))
