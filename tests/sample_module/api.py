"""The sample module's JSON API (mounted at /api/t/{tenant_slug})."""

from __future__ import annotations

import uuid

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from tests.sample_module.models import SampleNote
from tests.sample_module.schemas import NoteIn, NoteOut
from tests.sample_module.services import NoteService
from web.deps import DbSession


def to_out(note: SampleNote) -> NoteOut:
    return NoteOut(
        id=note.id,
        title=note.title,
        body=note.body,
        created_at=note.created_at,
        tags=[t.label for t in note.tags],
    )


class NoteApi(Controller):
    path = "/sample/notes"
    tags = ("sample",)

    @get("/")
    async def list_notes(
        self,
        session: DbSession,
        limit: FromQuery[int] = 50,
        after: FromQuery[uuid.UUID | None] = None,
    ) -> list[NoteOut]:
        return await NoteService(session).page(limit, after)

    @post("/")
    async def create_note(self, session: DbSession, data: JSONBody[NoteIn]) -> NoteOut:
        note = await NoteService(session).create(data.title, data.body, data.tags)
        return to_out(await NoteService(session).get(note.id))

    @get("/{note_id:uuid}")
    async def get_note(self, session: DbSession, note_id: FromPath[uuid.UUID]) -> NoteOut:
        return to_out(await NoteService(session).get(note_id))

    @get("/crash", include_in_schema=False)
    async def crash(self, session: DbSession) -> None:
        """A deliberate bug, so tests can see how an unexpected error is answered."""
        raise RuntimeError("deliberate failure inside a handler")
