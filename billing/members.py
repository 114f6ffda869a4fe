"""Per-member pricing: each per-member item's quantity follows the workspace's active members.

Whoever changes who is an active member (an invitation accepted, a member deactivated or
reactivated, the demo people added) calls :func:`members_changed` in the same
transaction: it publishes :class:`MembersChanged` to core's outbox, so the event exists
exactly when the change is committed. Core's worker delivers it to :func:`follow_members`
(one of core's own handlers, ``core.jobs.CORE_HANDLERS``, run for every workspace
whatever its modules), which calls :func:`sync_quantities`:

- it locks the workspace's ``billing_account`` row first, so two deliveries for one
  workspace run one after the other, and a webhook's ``billing.state.refresh`` waits too;
- it **counts the active members then**, not from the event: a burst of joins converges on
  the final count, the later deliveries finding the quantity already right;
- the quantity is the count, **never below 1**;
- it skips a workspace without a live subscription or with the manual provider, a flat
  item, an item removed at the period's end (``ends_at`` set: it keeps the quantity it had
  and is not billed for members who join afterwards), and an item already at the count;
- otherwise it sets the item's quantity at Stripe (prorated) and writes
  ``billing_item.quantity`` with the intent done, in the handler's transaction.

**Idempotency**: the intent is ``quantity:<module>:<count>``. Setting a quantity is
idempotent by nature, but a key must never be sent again with another value (Stripe
refuses the same key with other parameters): with ``quantity:<module>`` alone, a crash
after Stripe set 3 and a retry that now counts 4 would send the first key with 4. With the
count in the intent, a retry of the same count sends the same key (Stripe replays its
answer) and a new count makes a new key. Once a quantity is written, the module's other
open ``quantity:`` attempts are closed (superseded): going back to a count whose attempt
was left open by a crash must take a fresh key, not replay an old answer.

A provider failure raises :class:`billing.provider.ProviderFailed`: the handler's
transaction rolls back and the worker retries the event with its backoff.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from billing import intents, state
from billing.models import BillingIntent, BillingItem, BillingPrice
from billing.provider import BillingProvider, provider_for
from core.context import TenantContext
from core.db import Database
from core.events import Event, publish
from core.models import Membership

#: A per-member item is never billed for fewer than this, whoever leaves.
MINIMUM = 1


class MembersChanged(Event, frozen=True, kw_only=True):
    """Who is an active member of the workspace changed. It carries nothing: the handler
    counts the members when it runs, so it always bills the latest count."""

    type_name = "billing.members_changed.v1"


@dataclass(frozen=True, slots=True)
class QuantityChange:
    """One per-member item :func:`sync_quantities` set."""

    module_key: str
    before: int
    after: int


def _quantity_intents(module_key: str) -> str:
    return f"quantity:{module_key}:"


def quantity_intent(module_key: str, quantity: int) -> str:
    return f"{_quantity_intents(module_key)}{quantity}"


async def members_changed(session: AsyncSession) -> None:
    """Note, in the caller's transaction, that the active members changed."""
    await publish(session, MembersChanged())


async def billed_members(session: AsyncSession) -> int:
    """What a per-member item is billed for now: the active members, at least one."""
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.active.is_(True))
    )
    return max(count or 0, MINIMUM)


async def follow_members(session: AsyncSession, ctx: TenantContext, _event: MembersChanged) -> None:
    """Core's handler of :class:`MembersChanged`: :func:`sync_quantities` with the
    installation's provider."""
    db = Database.of(session)
    await sync_quantities(session, db, provider_for(db.settings), ctx.tenant_id)


async def sync_quantities(
    session: AsyncSession, db: Database, provider: BillingProvider, tenant_id: uuid.UUID
) -> list[QuantityChange]:
    """Make every per-member item's quantity the billed member count; see the module doc."""
    account = await state.account(session, lock=True)
    if (
        not provider.external
        or account is None
        or not account.stripe_subscription_id
        or account.status in state.ENDED
    ):
        return []
    wanted = await billed_members(session)
    items = await session.scalars(  # buffered: the loop below runs queries of its own
        select(BillingItem)
        .join(BillingPrice, BillingPrice.id == BillingItem.price_id)
        .where(
            BillingPrice.per_member.is_(True),
            BillingItem.stripe_item_id.is_not(None),
            BillingItem.ends_at.is_(None),
            BillingItem.quantity != wanted,
        )
        .order_by(BillingItem.module_key)
    )
    changes = []
    for item in items:
        assert item.stripe_item_id is not None
        intent = quantity_intent(item.module_key, wanted)
        key = await intents.attempt_key(db, tenant_id, intent)
        await provider.set_quantity(item.stripe_item_id, wanted, key)
        changes.append(QuantityChange(item.module_key, item.quantity, wanted))
        item.quantity = wanted
        await intents.finish(session, intent)
        await _close_superseded(session, item.module_key, intent)
    await session.flush()
    return changes


async def _close_superseded(session: AsyncSession, module_key: str, done: str) -> None:
    """Close the module's other quantity attempts a crash left open: their value is not
    wanted any more, and a later return to it must take a new key (see the module doc)."""
    await session.execute(
        update(BillingIntent)
        .where(
            BillingIntent.intent.startswith(_quantity_intents(module_key), autoescape=True),
            BillingIntent.intent != done,
            BillingIntent.done_at.is_(None),
        )
        .values(done_at=func.now())
    )
