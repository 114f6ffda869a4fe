"""The sample module's business rules."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import Uuid, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.errors import NotFound, ValidationFailed
from core.events import publish
from core.reads import TenantRead
from tests.sample_module.events import NoteCreated
from tests.sample_module.models import SampleNote, SampleTag
from tests.sample_module.schemas import NoteOut

# The list is the hot path: prebuilt reads (core.reads) instead of ORM objects.
_NOTE_COLUMNS = select(SampleNote.id, SampleNote.title, SampleNote.body, SampleNote.created_at)
FIRST_PAGE = TenantRead(SampleNote, _NOTE_COLUMNS.order_by(SampleNote.id).limit(bindparam("limit")))
NEXT_PAGE = TenantRead(
    SampleNote,
    _NOTE_COLUMNS.where(SampleNote.id > bindparam("after"))
    .order_by(SampleNote.id)
    .limit(bindparam("limit")),
)
TAGS_OF = TenantRead(
    SampleTag,
    select(SampleTag.note_id, SampleTag.label)
    .where(SampleTag.note_id == any_(bindparam("note_ids", type_=ARRAY(Uuid))))
    .order_by(SampleTag.label),
)


class NoteService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, title: str, body: str = "", tags: list[str] | None = None) -> SampleNote:
        title = title.strip()
        if not title:
            raise ValidationFailed("A note needs a title.")
        if len(title) > 200:
            raise ValidationFailed("A title has at most {max} characters.", max=200)
        note = SampleNote(title=title, body=body)
        note.tags = [SampleTag(label=label) for label in tags or []]
        self.session.add(note)
        await self.session.flush()
        await publish(self.session, NoteCreated(note_id=note.id, title=note.title))
        return note

    async def get(self, note_id: uuid.UUID) -> SampleNote:
        note = await self.session.scalar(
            select(SampleNote)
            .where(SampleNote.id == note_id)
            .options(selectinload(SampleNote.tags))
        )
        if note is None:
            raise NotFound("No note {id}.", id=str(note_id))
        return note

    async def page(self, limit: int = 50, after: uuid.UUID | None = None) -> list[NoteOut]:
        """A keyset page of notes with their tags, oldest first (ids are time-ordered)."""
        limit = min(max(limit, 1), 200)
        if after is None:
            notes = await FIRST_PAGE.rows(self.session, limit=limit)
        else:
            notes = await NEXT_PAGE.rows(self.session, limit=limit, after=after)
        tags: dict[uuid.UUID, list[str]] = defaultdict(list)
        # Rows are unpacked as tuples: attribute access on a Row costs a lookup per field.
        for note_id, label in await TAGS_OF.rows(self.session, note_ids=[n[0] for n in notes]):
            tags[note_id].append(label)
        return [
            NoteOut(id=id_, title=title, body=body, created_at=created_at, tags=tags[id_])
            for id_, title, body, created_at in notes
        ]

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(SampleNote)) or 0

    async def search(self, text: str) -> list[SampleNote]:
        return list(
            await self.session.scalars(
                select(SampleNote).where(SampleNote.title.ilike(f"%{text}%")).limit(20)
            )
        )
