"""OA calendars, meetings, invitees and rooms

Revision ID: oa_0004
Revises: oa_0003
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "oa_0004"
down_revision: str | Sequence[str] | None = "oa_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Room bookings cannot overlap: the booking service locks the room's row and checks for an
# overlapping meeting in the same transaction (modules/oa/services/calendar.py). An
# exclusion constraint would need the btree_gist extension, which the embedded PostgreSQL
# (pgserver) does not ship.


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "oa_calendar",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["created_by"], ["core_user.id"], name=op.f("fk_oa_calendar_created_by_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_calendar")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_calendar")
    op.create_index("uq_oa_calendar_name", "oa_calendar", ["tenant_id", "name"], unique=True)

    op.create_table(
        "oa_calendar_member",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("can_write", sa.Boolean(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "calendar_id"],
            ["oa_calendar.tenant_id", "oa_calendar.id"],
            name=op.f("fk_oa_calendar_member_tenant_id_calendar_id_oa_calendar"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_oa_calendar_member_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_calendar_member")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_calendar_member")
    op.create_index(
        "uq_oa_calendar_member",
        "oa_calendar_member",
        ["tenant_id", "calendar_id", "user_id"],
        unique=True,
    )
    op.create_index("ix_oa_calendar_member_user", "oa_calendar_member", ["tenant_id", "user_id"])

    op.create_table(
        "oa_room",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _created_at(),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_oa_room_capacity")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_room")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_room")
    op.create_index("uq_oa_room_name", "oa_room", ["tenant_id", "name"], unique=True)

    op.create_table(
        "oa_event",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.Column("organiser_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=True),
        sa.Column("remind_minutes", sa.Integer(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_oa_event_ends_after_start")),
        sa.CheckConstraint(
            "remind_minutes IS NULL OR remind_minutes >= 0",
            name=op.f("ck_oa_event_remind_minutes"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "calendar_id"],
            ["oa_calendar.tenant_id", "oa_calendar.id"],
            name=op.f("fk_oa_event_tenant_id_calendar_id_oa_calendar"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "room_id"],
            ["oa_room.tenant_id", "oa_room.id"],
            name=op.f("fk_oa_event_tenant_id_room_id_oa_room"),
        ),
        sa.ForeignKeyConstraint(
            ["organiser_id"], ["core_user.id"], name=op.f("fk_oa_event_organiser_id_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_event")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_event")
    op.create_index("ix_oa_event_organiser", "oa_event", ["tenant_id", "organiser_id", "starts_at"])
    op.create_index("ix_oa_event_calendar", "oa_event", ["tenant_id", "calendar_id", "starts_at"])
    op.create_index("ix_oa_event_room", "oa_event", ["tenant_id", "room_id", "starts_at"])
    op.create_index(
        "ix_oa_event_to_remind",
        "oa_event",
        ["tenant_id", "starts_at"],
        postgresql_where="remind_minutes IS NOT NULL AND reminded_at IS NULL",
    )

    op.create_table(
        "oa_invitee",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("response", sa.String(length=10), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "response IN ('pending', 'accepted', 'declined')", name=op.f("ck_oa_invitee_response")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "event_id"],
            ["oa_event.tenant_id", "oa_event.id"],
            name=op.f("fk_oa_invitee_tenant_id_event_id_oa_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_oa_invitee_user_id_core_user")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_oa_invitee")),
        info={"tenancy": "tenant", "module": "oa"},
    )
    op.enable_tenant_rls("oa_invitee")
    op.create_index(
        "uq_oa_invitee", "oa_invitee", ["tenant_id", "event_id", "user_id"], unique=True
    )
    op.create_index("ix_oa_invitee_user", "oa_invitee", ["tenant_id", "user_id"])


def downgrade() -> None:
    for table in ("oa_invitee", "oa_event", "oa_room", "oa_calendar_member", "oa_calendar"):
        op.drop_table(table)
