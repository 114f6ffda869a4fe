"""API shapes of the sample module."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    title: str = msgspec.field()
    body: str = ""
    tags: list[str] = msgspec.field(default_factory=list)


class NoteOut(msgspec.Struct):
    id: uuid.UUID
    title: str
    body: str
    created_at: datetime
    tags: list[str]
