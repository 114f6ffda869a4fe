"""Pipelines and their stages, as the tenant sets them up (CRM settings → Pipelines).

Rules:

- A pipeline's name is unique in the workspace; a stage's name is unique in its pipeline.
- Exactly one pipeline is the default (new opportunities go there unless told otherwise):
  a partial unique index keeps it one, and making another the default takes the title
  from the old one in the same transaction. The default cannot be archived or deleted.
- Every pipeline keeps at least one stage of each kind — open, won and lost — so a deal
  can always be worked, won and lost. A new pipeline starts with one of each.
- A stage's win probability is a percentage from 0 to 100 (two decimal places at most);
  the weighted forecast multiplies open deals' amounts by it.
- A stage that holds opportunities (open or closed) cannot be deleted, nor change its
  kind (its deals' status follows the kind): move them to another stage first.
- A pipeline that holds opportunities cannot be deleted: archive it instead. An archived
  pipeline takes no new opportunities; its deals stay as they are.

Changes to one pipeline's stages are serialised by a row lock on the pipeline, so two
people deleting the last two won stages at once cannot leave it with none.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal, InvalidOperation

from msgspec import UNSET, UnsetType
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import assign_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_, gettext
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.models import Opportunity, Pipeline, Stage
from modules.crm.models.sales import STAGE_KINDS

NAME_MAX = 100
#: What a new pipeline starts with: one stage of each kind (name msgid, probability, kind).
STARTING_STAGES = (
    (N_("New"), Decimal(10), "open"),
    (N_("Won"), Decimal(100), "won"),
    (N_("Lost"), Decimal(0), "lost"),
)
KIND_LABELS = {"open": N_("Open"), "won": N_("Won"), "lost": N_("Lost")}


# --- reading ---------------------------------------------------------------------------------


async def pipelines(session: AsyncSession, *, include_archived: bool = False) -> list[Pipeline]:
    """The workspace's pipelines: the default first, then by name."""
    query = select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.name)
    if not include_archived:
        query = query.where(Pipeline.active)
    return list(await session.scalars(query))


async def stages_of(
    session: AsyncSession, pipeline_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Stage]]:
    """Each pipeline's stages in their order."""
    found: dict[uuid.UUID, list[Stage]] = {pipeline_id: [] for pipeline_id in pipeline_ids}
    rows = await session.scalars(
        select(Stage)
        .where(Stage.pipeline_id.in_(pipeline_ids))
        .order_by(Stage.pipeline_id, Stage.sequence, Stage.id)
    )
    for stage in rows:
        found[stage.pipeline_id].append(stage)
    return found


async def opportunity_counts(
    session: AsyncSession, stage_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many opportunities (open or closed, anybody's) each stage holds."""
    rows = await session.execute(
        select(Opportunity.stage_id, func.count())
        .where(Opportunity.stage_id.in_(stage_ids))
        .group_by(Opportunity.stage_id)
    )
    counts: dict[uuid.UUID, int] = defaultdict(int)
    counts.update(dict(rows.all()))
    return counts


async def get_pipeline(
    session: AsyncSession, pipeline_id: uuid.UUID, *, for_update: bool = False
) -> Pipeline:
    query = select(Pipeline).where(Pipeline.id == pipeline_id)
    if for_update:
        query = query.with_for_update()
    pipeline = await session.scalar(query)
    if pipeline is None:
        raise NotFound("No pipeline {id}.", id=str(pipeline_id), field="pipeline_id")
    return pipeline


async def get_stage(
    session: AsyncSession, stage_id: uuid.UUID, pipeline_id: uuid.UUID | None = None
) -> Stage:
    """The stage (one of ``pipeline_id``'s, when named: another's is as missing as none)."""
    stage = await session.scalar(select(Stage).where(Stage.id == stage_id))
    if stage is None or pipeline_id not in (None, stage.pipeline_id):
        raise NotFound("No stage {id}.", id=str(stage_id), field="stage_id")
    return stage


async def default_pipeline(session: AsyncSession) -> Pipeline | None:
    return await session.scalar(select(Pipeline).where(Pipeline.is_default))


# --- checks ----------------------------------------------------------------------------------


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed("A name has 1 to {max} characters.", max=NAME_MAX, field="name")
    return name


def check_probability(probability: Decimal) -> Decimal:
    try:
        good = Decimal(0) <= probability <= Decimal(100) and probability == probability.quantize(
            Decimal("0.01")
        )
    except InvalidOperation:
        good = False
    if not good:
        raise ValidationFailed(
            "A win probability is a percentage from 0 to 100.", field="probability"
        )
    return probability


def check_kind(kind: str) -> str:
    if kind not in STAGE_KINDS:
        raise ValidationFailed("A stage is open, won or lost.", field="kind")
    return kind


async def _save_named(session: AsyncSession, row: Pipeline | Stage, name: str) -> None:
    """Write ``row`` under ``name``; a name already taken is 409, beside the name."""
    if not await assign_unique(session, row, {"name": name}):
        if isinstance(row, Pipeline):
            raise Conflict("A pipeline named {name} already exists.", name=name, field="name")
        raise Conflict("A stage named {name} is already in this pipeline.", name=name, field="name")


# --- pipelines -------------------------------------------------------------------------------


async def create_pipeline(
    session: AsyncSession, actor: Actor, name: str, *, is_default: bool = False
) -> Pipeline:
    """A new pipeline with one open, one won and one lost stage (named in the creator's
    language), to rename and add to."""
    actor.require(codes.SETTINGS_MANAGE)
    pipeline = Pipeline(is_default=False, active=True)
    await _save_named(session, pipeline, check_name(name))
    for sequence, (label, probability, kind) in enumerate(STARTING_STAGES, start=1):
        session.add(
            Stage(
                pipeline_id=pipeline.id,
                name=gettext(label),
                sequence=sequence,
                probability=probability,
                kind=kind,
            )
        )
    await session.flush()
    if is_default:
        await _make_default(session, pipeline)
    return pipeline


async def _make_default(session: AsyncSession, pipeline: Pipeline) -> None:
    if not pipeline.active:
        raise Conflict("Restore the pipeline before making it the default.", field="is_default")
    # Every pipeline row locked, then the old default cleared before the new one is set:
    # the partial unique index checks each row as it changes.
    await session.execute(select(Pipeline.id).with_for_update())
    await session.execute(
        update(Pipeline)
        .where(Pipeline.is_default, Pipeline.id != pipeline.id)
        .values(is_default=False)
    )
    pipeline.is_default = True
    await session.flush()


async def update_pipeline(
    session: AsyncSession,
    actor: Actor,
    pipeline_id: uuid.UUID,
    *,
    name: str | UnsetType = UNSET,
    is_default: bool | UnsetType = UNSET,
    active: bool | UnsetType = UNSET,
) -> Pipeline:
    """Rename, make the default, archive (``active=False``) or restore a pipeline."""
    actor.require(codes.SETTINGS_MANAGE)
    pipeline = await get_pipeline(session, pipeline_id, for_update=True)
    if not isinstance(name, UnsetType):
        await _save_named(session, pipeline, check_name(name))
    if active is False and (pipeline.is_default or is_default is True):
        raise Conflict(
            "The default pipeline cannot be archived: make another one the default first.",
            field="active",
        )
    if not isinstance(active, UnsetType):
        pipeline.active = active
    if is_default is True and not pipeline.is_default:
        await _make_default(session, pipeline)
    elif is_default is False and pipeline.is_default:
        raise Conflict(
            "A workspace always has a default pipeline: make another one the default instead.",
            field="is_default",
        )
    await session.flush()
    return pipeline


async def delete_pipeline(session: AsyncSession, actor: Actor, pipeline_id: uuid.UUID) -> None:
    """Delete a pipeline that holds no opportunities, with its stages."""
    actor.require(codes.SETTINGS_MANAGE)
    pipeline = await get_pipeline(session, pipeline_id, for_update=True)
    if pipeline.is_default:
        raise Conflict("The default pipeline cannot be deleted.")
    held = await session.scalar(
        select(func.count()).select_from(Opportunity).where(Opportunity.pipeline_id == pipeline.id)
    )
    if held:
        raise Conflict("This pipeline holds {count} opportunities: archive it instead.", count=held)
    # Its stages go with it in the database (ON DELETE CASCADE).
    await session.execute(delete(Pipeline).where(Pipeline.id == pipeline.id))
    session.expunge(pipeline)


# --- stages ----------------------------------------------------------------------------------


async def _locked_stages(session: AsyncSession, pipeline_id: uuid.UUID) -> list[Stage]:
    """The pipeline's stages, with the pipeline locked against other stage changes."""
    await get_pipeline(session, pipeline_id, for_update=True)
    return (await stages_of(session, [pipeline_id]))[pipeline_id]


async def add_stage(
    session: AsyncSession,
    actor: Actor,
    pipeline_id: uuid.UUID,
    *,
    name: str,
    probability: Decimal,
    kind: str = "open",
) -> Stage:
    """A stage at the end of the pipeline."""
    actor.require(codes.SETTINGS_MANAGE)
    stages = await _locked_stages(session, pipeline_id)
    stage = Stage(
        pipeline_id=pipeline_id,
        sequence=max((s.sequence for s in stages), default=0) + 1,
        probability=check_probability(probability),
        kind=check_kind(kind),
    )
    await _save_named(session, stage, check_name(name))
    return stage


def _keeps_every_kind(stages: list[Stage], without: Stage, kind: str | None = None) -> None:
    """Refuse a change that leaves the pipeline with no stage of ``without``'s kind."""
    others = [s for s in stages if s.id != without.id and s.kind == without.kind]
    if not others and kind != without.kind:
        raise Conflict(
            "A pipeline needs at least one {kind} stage.",
            kind=gettext(KIND_LABELS[without.kind]).lower(),
            field="kind",
        )


async def _refuse_if_held(session: AsyncSession, stage: Stage, message: str) -> None:
    held = (await opportunity_counts(session, [stage.id]))[stage.id]
    if held:
        raise Conflict(message, count=held, name=stage.name)


async def update_stage(
    session: AsyncSession,
    actor: Actor,
    stage_id: uuid.UUID,
    *,
    name: str | UnsetType = UNSET,
    probability: Decimal | UnsetType = UNSET,
    kind: str | UnsetType = UNSET,
) -> Stage:
    """Rename a stage, set its win probability, or change its kind (while it is empty)."""
    actor.require(codes.SETTINGS_MANAGE)
    stage = await get_stage(session, stage_id)
    stages = await _locked_stages(session, stage.pipeline_id)
    if not isinstance(probability, UnsetType):
        stage.probability = check_probability(probability)
    if not isinstance(kind, UnsetType) and check_kind(kind) != stage.kind:
        _keeps_every_kind(stages, stage, kind)
        await _refuse_if_held(
            session,
            stage,
            N_(
                "The stage {name} holds {count} opportunities, so its kind cannot change: "
                "move them to another stage first."
            ),
        )
        stage.kind = kind
    if not isinstance(name, UnsetType):
        await _save_named(session, stage, check_name(name))
    await session.flush()
    return stage


async def delete_stage(session: AsyncSession, actor: Actor, stage_id: uuid.UUID) -> None:
    """Delete an empty stage (never the last of its kind in its pipeline)."""
    actor.require(codes.SETTINGS_MANAGE)
    stage = await get_stage(session, stage_id)
    stages = await _locked_stages(session, stage.pipeline_id)
    _keeps_every_kind(stages, stage)
    await _refuse_if_held(
        session,
        stage,
        N_(
            "The stage {name} holds {count} opportunities, so it cannot be deleted: "
            "move them to another stage first."
        ),
    )
    await session.delete(stage)
    await session.flush()


async def reorder_stages(
    session: AsyncSession, actor: Actor, pipeline_id: uuid.UUID, stage_ids: list[uuid.UUID]
) -> list[Stage]:
    """Put the pipeline's stages in the order given: every one of them, each once."""
    actor.require(codes.SETTINGS_MANAGE)
    stages = await _locked_stages(session, pipeline_id)
    by_id = {stage.id: stage for stage in stages}
    if len(stage_ids) != len(by_id) or set(stage_ids) != set(by_id):
        raise ValidationFailed(
            "List every stage of the pipeline once, in the new order.", field="stage_ids"
        )
    for sequence, stage_id in enumerate(stage_ids, start=1):
        by_id[stage_id].sequence = sequence
    await session.flush()
    return [by_id[stage_id] for stage_id in stage_ids]


async def move_stage(
    session: AsyncSession, actor: Actor, stage_id: uuid.UUID, offset: int
) -> list[Stage]:
    """Move a stage one place earlier (``offset=-1``) or later (``+1``); at an end it stays."""
    stage = await get_stage(session, stage_id)
    order = [s.id for s in (await stages_of(session, [stage.pipeline_id]))[stage.pipeline_id]]
    here = order.index(stage.id)
    there = min(max(here + offset, 0), len(order) - 1)
    order[here], order[there] = order[there], order[here]
    return await reorder_stages(session, actor, stage.pipeline_id, order)
