"""The sample module's pages (mounted at /t/{tenant_slug})."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from tests.sample_module.services import NoteService
from web.deps import DbSession


@get("/sample/")
async def notes_page(session: DbSession) -> Template:
    notes = await NoteService(session).page(limit=50)
    return Template("sample/notes.html", context={"notes": notes})
