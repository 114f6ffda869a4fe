"""The audit log: written with the action, filtered for admins, append-only for the app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import audit
from core.db import Database
from core.orm import uuid7


@pytest.fixture
async def tenants(make_tenant):
    return await make_tenant("audited"), await make_tenant("elsewhere")


async def test_entries_are_kept_per_tenant_and_filtered(db: Database, tenants) -> None:
    a, b = tenants
    actor = uuid7()
    async with db.tenant_transaction(a.tenant_id) as session:
        await audit.record(session, "member.invited", detail={"email": "x@y.test"})
        await audit.record(session, "auth.sign_in_failed", ip="127.0.0.1")
        await audit.record(
            session,
            "finance.entry.posted",
            subject_type="finance.entry",
            subject_id=uuid7(),
            detail={"amount": "100.00"},
        )
    async with db.tenant_transaction(b.tenant_id) as session:
        await audit.record(session, "member.invited")
        assert [e.action for e in await audit.entries(session)] == ["member.invited"]
    async with db.tenant_transaction(a.tenant_id) as session:
        newest_first = [e.action for e in await audit.entries(session)]
        assert newest_first == ["finance.entry.posted", "auth.sign_in_failed", "member.invited"]
        failed = await audit.entries(session, action="auth.sign_in_failed")
        assert [(e.action, e.ip) for e in failed] == [("auth.sign_in_failed", "127.0.0.1")]
        page = await audit.entries(session, limit=2)
        rest = await audit.entries(session, before=page[-1].id)
        assert [e.action for e in rest] == ["member.invited"]
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert await audit.entries(session, since=later) == []
        assert await audit.entries(session, actor_id=actor) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE core_audit_log SET action = 'nothing'",
        "DELETE FROM core_audit_log",
        "TRUNCATE core_audit_log",
    ],
)
async def test_the_app_role_cannot_change_or_delete_entries(
    db: Database, tenants, statement: str
) -> None:
    a, _b = tenants
    async with db.tenant_transaction(a.tenant_id) as session:
        await audit.record(session, "settings.changed")
    async with db.session(a.tenant_id) as session:
        await session.begin()
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text(statement))
        await session.rollback()
    async with db.tenant_transaction(a.tenant_id) as session:
        assert [e.action for e in await audit.entries(session)] == ["settings.changed"]
