"""What CRM sets up in a workspace when it is switched on: its document numbers, a
default pipeline, the public-pool rules. Enabling again keeps whatever the tenant changed."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import numbering
from core.context import TenantContext
from core.i18n import N_, gettext, use_locale
from core.orm import uuid7
from modules.crm.models import Pipeline, PoolSettings, Stage

#: Document type → the default prefix of its numbers (changed in Settings → Numbering).
NUMBER_SERIES = {
    "crm.lead": "LD",
    "crm.opportunity": "OP",
    "crm.quote": "QT",
    "crm.contract": "CT",
    "crm.ticket": "TK",
}
#: The default pipeline, as Chinese sales teams run it: name, win probability, kind.
DEFAULT_STAGES = (
    (N_("Initial contact"), Decimal("10"), "open"),
    (N_("Needs confirmed"), Decimal("30"), "open"),
    (N_("Proposal and quote"), Decimal("50"), "open"),
    (N_("Negotiation"), Decimal("80"), "open"),
    (N_("Won"), Decimal("100"), "won"),
    (N_("Lost"), Decimal("0"), "lost"),
)


async def set_up(session: AsyncSession, ctx: TenantContext) -> None:
    for doc_type, prefix in NUMBER_SERIES.items():
        await numbering.ensure(session, doc_type, prefix=prefix)
    await session.execute(
        insert(PoolSettings)
        .values(tenant_id=ctx.tenant_id, id=uuid7())
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    if await session.scalar(select(Pipeline.id).limit(1)) is None:
        with use_locale(ctx.locale):  # stage names in the workspace's language
            pipeline = Pipeline(name=gettext("Sales"), is_default=True)
            pipeline.stages = [
                Stage(name=gettext(name), sequence=index, probability=chance, kind=kind)
                for index, (name, chance, kind) in enumerate(DEFAULT_STAGES, start=1)
            ]
        session.add(pipeline)
    await session.flush()
