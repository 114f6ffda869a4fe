"""attachments and timeline

Revision ID: core_0009
Revises: core_0008
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0009"
down_revision: str | Sequence[str] | None = "core_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "core_attachment",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["core_user.id"],
            name=op.f("fk_core_attachment_uploaded_by_core_user"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_attachment")),
        sa.UniqueConstraint(
            "tenant_id", "storage_key", name=op.f("uq_core_attachment_tenant_id_storage_key")
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_attachment")
    op.create_index(
        "ix_core_attachment_record",
        "core_attachment",
        ["tenant_id", "record_type", "record_id"],
        unique=False,
    )

    op.create_table(
        "core_activity",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("activity_type", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.Uuid(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "activity_type IN ('call', 'meeting', 'todo', 'email')",
            name=op.f("ck_core_activity_type"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["core_user.id"], name=op.f("fk_core_activity_assignee_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["core_user.id"], name=op.f("fk_core_activity_created_by_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["done_by"], ["core_user.id"], name=op.f("fk_core_activity_done_by_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_activity")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_activity")
    op.create_index(
        "ix_core_activity_record",
        "core_activity",
        ["tenant_id", "record_type", "record_id"],
        unique=False,
    )
    op.create_index(
        "ix_core_activity_open_by_assignee",
        "core_activity",
        ["tenant_id", "assignee_id", "due_on"],
        unique=False,
        postgresql_where=sa.text("done_at IS NULL"),
    )
    op.create_index(
        "ix_core_activity_to_remind",
        "core_activity",
        ["tenant_id", "due_on"],
        unique=False,
        postgresql_where=sa.text("done_at IS NULL AND reminded_at IS NULL"),
    )

    op.create_table(
        "core_timeline_entry",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        _created_at(),
        sa.CheckConstraint(
            "kind IN ('comment', 'change', 'activity')", name=op.f("ck_core_timeline_entry_kind")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["core_user.id"], name=op.f("fk_core_timeline_entry_author_id_core_user")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "activity_id"],
            ["core_activity.tenant_id", "core_activity.id"],
            name=op.f("fk_core_timeline_entry_tenant_id_activity_id_core_activity"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_timeline_entry")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_timeline_entry")
    op.create_index(
        "ix_core_timeline_entry_activity_id",
        "core_timeline_entry",
        ["tenant_id", "activity_id"],
        unique=False,
    )
    op.create_index(
        "ix_core_timeline_entry_record",
        "core_timeline_entry",
        ["tenant_id", "record_type", "record_id", "id"],
        unique=False,
    )

    op.create_table(
        "core_mention",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entry_id"],
            ["core_timeline_entry.tenant_id", "core_timeline_entry.id"],
            name=op.f("fk_core_mention_tenant_id_entry_id_core_timeline_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_mention_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_mention")),
        sa.UniqueConstraint(
            "tenant_id",
            "entry_id",
            "user_id",
            name=op.f("uq_core_mention_tenant_id_entry_id_user_id"),
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_mention")
    op.create_index(
        "ix_core_mention_user", "core_mention", ["tenant_id", "user_id", "entry_id"], unique=False
    )

    op.create_table(
        "core_notification",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=31), nullable=False),
        sa.Column("record_type", sa.String(length=63), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_notification_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_notification")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_notification")
    op.create_index(
        "ix_core_notification_user",
        "core_notification",
        ["tenant_id", "user_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("core_notification")
    op.drop_table("core_mention")
    op.drop_table("core_timeline_entry")
    op.drop_table("core_activity")
    op.drop_table("core_attachment")
