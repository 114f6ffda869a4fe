"""Events the sample module publishes: its public contract."""

from __future__ import annotations

import uuid

from core.events import Event


class NoteCreated(Event, frozen=True, kw_only=True):
    type_name = "sample.note_created.v1"

    note_id: uuid.UUID
    title: str
