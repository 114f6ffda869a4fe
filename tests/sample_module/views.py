"""The sample module's pages (mounted at /t/{tenant_slug})."""

from __future__ import annotations

from litestar import get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from tests.sample_module.services import NoteService


@get("/sample/")
async def notes_page(session: AsyncSession) -> Template:
    notes = await NoteService(session).page(limit=50)
    return Template("sample/notes.html", context={"notes": notes})
