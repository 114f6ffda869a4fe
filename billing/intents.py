"""Idempotency keys derived from intents: a retried Stripe write is the same write.

Every Stripe write a workspace causes names its intent (``subscribe:crm``,
``add:crm``, ``quantity:crm``, ...). :func:`attempt_key` gives the key for the intent's
current attempt, ``sha256(tenant, intent, attempt)``, after committing that attempt on
its own (``billing_intent``), *before* the call. The caller marks it done with
:func:`finish` in the transaction that writes the call's result.

- A crash or timeout between Stripe's answer and our commit leaves the attempt not done:
  the retry gets the same key, and Stripe answers what it answered the first time (no
  second subscription, no second item).
- Once done, the next call of the same intent is a deliberate new attempt (adding a
  module again after removing it): the attempt number goes up, and so does the key.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingIntent
from billing.stripe_provider import intent_key
from core.db import Database, add_unique


def key(tenant_id: uuid.UUID, intent: str, attempt: int) -> str:
    return intent_key(f"{tenant_id}:{intent}:{attempt}")


async def attempt_key(db: Database, tenant_id: uuid.UUID, intent: str) -> str:
    """The key of ``intent``'s current attempt, the attempt committed first (see above)."""
    async with db.tenant_transaction(tenant_id) as session:
        query = select(BillingIntent).where(BillingIntent.intent == intent).with_for_update()
        row = await session.scalar(query)
        if row is None and not await add_unique(session, BillingIntent(intent=intent)):
            row = await session.scalar(query)  # made by a concurrent call a moment ago
        if row is None:
            return key(tenant_id, intent, 1)
        if row.done_at is not None:
            row.attempt, row.done_at = row.attempt + 1, None
        return key(tenant_id, intent, row.attempt)


async def finish(session: AsyncSession, intent: str, now: datetime | None = None) -> None:
    """Mark ``intent``'s attempt done, in the caller's transaction (with its result)."""
    await session.execute(
        update(BillingIntent)
        .where(BillingIntent.intent == intent, BillingIntent.done_at.is_(None))
        .values(done_at=now or datetime.now(UTC))
    )
