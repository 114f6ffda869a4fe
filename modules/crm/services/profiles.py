"""A party's CRM profile (``crm_customer``), made once: by conversion, a contract, a quote,
or when a customer is created in CRM. Every area that turns a party into a customer calls
:func:`ensure_customer`, so there is one row per party however many do it at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.orm import uuid7
from modules.crm.models import Customer


async def ensure_customer(
    session: AsyncSession,
    party_id: uuid.UUID,
    *,
    source: str = "manual",
    lifecycle_stage: str = "prospect",
    in_pool: bool = False,
) -> Customer:
    """The party's profile, created with these values if it has none (kept if it has)."""
    await session.execute(
        insert(Customer)
        .values(
            tenant_id=session.info["tenant_id"],
            id=uuid7(),
            party_id=party_id,
            source=source,
            lifecycle_stage=lifecycle_stage,
            in_pool=in_pool,
            pooled_at=datetime.now(UTC) if in_pool else None,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "party_id"])
    )
    found = await session.scalar(select(Customer).where(Customer.party_id == party_id))
    assert found is not None  # just inserted, or already there
    return found
