"""The sample module's tables: notes with tags, and a log of handler and job effects."""

from __future__ import annotations

import uuid

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import TenantModel, tenant_ref, tenant_relationship


class SampleNote(TenantModel):
    __tablename__ = "sample_note"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[SampleTag]] = tenant_relationship(
        "SampleTag", "SampleTag.note_id", back_populates="note", order_by="SampleTag.label"
    )


class SampleTag(TenantModel):
    __tablename__ = "sample_tag"

    note_id: Mapped[uuid.UUID] = tenant_ref("sample_note", ondelete="CASCADE")
    label: Mapped[str] = mapped_column(String(50))
    note: Mapped[SampleNote] = tenant_relationship("SampleNote", "note_id", back_populates="tags")


class SampleEffect(TenantModel):
    """One row per effect of a handler or job: counting them proves effect-once delivery."""

    __tablename__ = "sample_effect"

    source: Mapped[str] = mapped_column(String(63))
    ref: Mapped[uuid.UUID | None]
    detail: Mapped[str] = mapped_column(String(200), default="")
