"""``/healthz``: the database answers and its schema is at head."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Response
from sqlalchemy import text

from core.db import Database


@get("/healthz", tags=["platform"])
async def healthz(request: Request) -> Response[dict[str, str]]:
    db: Database = request.app.state.db
    expected: dict[str, frozenset[str]] = request.app.state.migration_ancestry
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            current = {r[0] for r in rows}
    except Exception as exc:  # the point of a health check is to answer, not to raise
        return Response({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    applied = frozenset().union(*(expected.get(rev, {rev}) for rev in current))
    at_head = applied == expected.get("*", frozenset())
    body = {
        "status": "ok" if at_head else "behind",
        "database": "ok",
        "migrations": "head" if at_head else "pending",
    }
    return Response(body, status_code=200 if at_head else 503)
