"""Opportunities (商机): a deal with a customer moving through a pipeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import numbering
from core.errors import ValidationFailed
from core.permissions import Actor
from core.products.currency import base_currency
from modules.crm import permissions as codes
from modules.crm.access import scoped_customer
from modules.crm.models import Opportunity, Pipeline, Stage

NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class NewOpportunity:
    name: str
    party_id: uuid.UUID
    amount: Decimal = Decimal("0")
    contact_id: uuid.UUID | None = None
    expected_close_on: date | None = None
    pipeline_id: uuid.UUID | None = None  # None: the default pipeline
    lead_id: uuid.UUID | None = None


async def _first_stage(session: AsyncSession, pipeline_id: uuid.UUID | None) -> Stage:
    """The first open stage of the pipeline (the default one when none is named)."""
    query = (
        select(Stage)
        .join(
            Pipeline, (Pipeline.id == Stage.pipeline_id) & (Pipeline.tenant_id == Stage.tenant_id)
        )
        .where(Pipeline.active, Stage.kind == "open")
        .order_by(Stage.sequence)
        .limit(1)
    )
    if pipeline_id is None:
        query = query.where(Pipeline.is_default)
    else:
        query = query.where(Pipeline.id == pipeline_id)
    stage = await session.scalar(query)
    if stage is None:
        raise ValidationFailed("Choose a pipeline that has an open stage.", field="pipeline_id")
    return stage


async def create_opportunity(
    session: AsyncSession, actor: Actor, new: NewOpportunity
) -> Opportunity:
    """A new opportunity in its pipeline's first stage, owned by ``actor``, in the base
    currency, for a customer the actor may see."""
    actor.require(codes.OPPORTUNITY_WRITE)
    name = new.name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(
            "An opportunity's name has 1 to {max} characters.", max=NAME_MAX, field="name"
        )
    if new.amount < 0:
        raise ValidationFailed("An amount cannot be negative.", field="amount")
    await scoped_customer(session, actor, new.party_id)
    stage = await _first_stage(session, new.pipeline_id)
    opportunity = Opportunity(
        number=await numbering.next_number(session, "crm.opportunity"),
        name=name,
        party_id=new.party_id,
        contact_id=new.contact_id,
        pipeline_id=stage.pipeline_id,
        stage_id=stage.id,
        amount=new.amount.quantize(Decimal("0.01")),
        currency=await base_currency(session),
        expected_close_on=new.expected_close_on,
        lead_id=new.lead_id,
        owner_id=actor.user_id,
        department_id=actor.department_id,
    )
    session.add(opportunity)
    await session.flush()
    return opportunity
