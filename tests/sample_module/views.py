"""The sample module's pages (mounted at /t/{tenant_slug})."""

from __future__ import annotations

import uuid

from litestar import get
from litestar.params import FromPath
from litestar.response import Template

from tests.sample_module.services import NoteService
from web.deps import DbSession
from web.tenancy import requires


@get("/sample/")
async def notes_page(session: DbSession) -> Template:
    notes = await NoteService(session).page(limit=50)
    return Template("sample/notes.html", context={"notes": notes})


@get("/sample/{note_id:uuid}", guards=[requires("sample.note.read")])
async def note_page(session: DbSession, note_id: FromPath[uuid.UUID]) -> Template:
    """One note: the page its record type names, so notifications can link to it."""
    note = await NoteService(session).get(note_id)
    return Template("sample/note.html", context={"note": note})
