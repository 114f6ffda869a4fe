"""Approving many at once from the To do box ("Approve selected").

Each approval goes through the engine's own approve action (:func:`engine.decide`) in a
savepoint of its own, so one that no longer waits for the member — decided by another
approver of an any-one step meanwhile, withdrawn, not theirs — is rolled back alone and
reported, and the others still go through. A refused comment (too long) is the same for
every approval, so it refuses the whole batch before anything is approved.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed
from core.permissions import Actor
from modules.oa import permissions as codes
from modules.oa.services import approval_inbox, engine

#: The most approvals one batch takes (a few pages of the To do box).
MOST = 200


@dataclass(frozen=True, slots=True)
class BatchResult:
    approved: list[uuid.UUID]
    not_waiting: list[uuid.UUID]  # no longer waited for the member (or not theirs to see)


async def approve_all(
    session: AsyncSession, actor: Actor, instance_ids: Sequence[uuid.UUID], comment: str = ""
) -> BatchResult:
    """Approve each of ``instance_ids`` as ``actor``, each on its own."""
    actor.require(codes.APPROVAL_READ)
    chosen = list(dict.fromkeys(instance_ids))
    if not chosen:
        raise ValidationFailed("Choose the approvals to approve.", field="ids")
    if len(chosen) > MOST:
        raise ValidationFailed(
            "Approve at most {count} approvals at once.", count=MOST, field="ids"
        )
    approved, not_waiting = [], []
    for instance_id in chosen:
        try:
            async with session.begin_nested():
                await approval_inbox.visible_instance(session, actor, instance_id)
                await engine.decide(
                    session, instance_id, actor.user_id, approve=True, comment=comment
                )
        except (Conflict, NotFound):
            not_waiting.append(instance_id)
        else:
            approved.append(instance_id)
    return BatchResult(approved, not_waiting)
