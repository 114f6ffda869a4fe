"""The sample module's business rules."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.errors import NotFound, ValidationFailed
from core.events import publish
from tests.sample_module.events import NoteCreated
from tests.sample_module.models import SampleNote, SampleTag


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

    async def page(self, limit: int = 50, after: uuid.UUID | None = None) -> list[SampleNote]:
        """A keyset page of notes, oldest first (ids are time-ordered)."""
        query = select(SampleNote).order_by(SampleNote.id).limit(min(max(limit, 1), 200))
        if after is not None:
            query = query.where(SampleNote.id > after)
        return list(await self.session.scalars(query.options(selectinload(SampleNote.tags))))

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(SampleNote)) or 0

    async def search(self, text: str) -> list[SampleNote]:
        return list(
            await self.session.scalars(
                select(SampleNote).where(SampleNote.title.ilike(f"%{text}%")).limit(20)
            )
        )
