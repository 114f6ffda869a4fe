"""mail outbox, one-time tokens, invitations

Revision ID: core_0010
Revises: core_0009
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0010"
down_revision: str | Sequence[str] | None = "core_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An invitation link names no workspace: hand the app role the tenant id behind a token's
# hash (a key, never the row), so the acceptance can run as that tenant under RLS.
INVITATION_TENANT = """
CREATE FUNCTION core_invitation_tenant(p_token_hash text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT i.tenant_id FROM core_invitation i WHERE i.token_hash = p_token_hash
$$
"""


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "core_mail_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_mail_outbox")),
        info={"tenancy": "global", "module": "core"},
    )
    op.create_table(
        "core_one_time_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password')",
            name=op.f("ck_core_one_time_token_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_one_time_token_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_one_time_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_one_time_token_token_hash")),
        info={"tenancy": "global", "module": "core"},
    )
    op.create_index(
        "ix_core_one_time_token_user_id_purpose",
        "core_one_time_token",
        ["user_id", "purpose"],
        unique=False,
    )
    op.create_table(
        "core_invitation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role_keys", postgresql.ARRAY(sa.String(length=63)), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["core_user.id"],
            name=op.f("fk_core_invitation_accepted_by_core_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["core_user.id"],
            name=op.f("fk_core_invitation_invited_by_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_invitation_token_hash")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_invitation")
    op.create_index(
        "uq_core_invitation_pending_email",
        "core_invitation",
        ["tenant_id", sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )
    op.execute(INVITATION_TENANT)


def downgrade() -> None:
    op.execute("DROP FUNCTION core_invitation_tenant(text)")
    op.drop_index(
        "uq_core_invitation_pending_email",
        table_name="core_invitation",
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )
    op.drop_table("core_invitation")
    op.drop_index("ix_core_one_time_token_user_id_purpose", table_name="core_one_time_token")
    op.drop_table("core_one_time_token")
    op.drop_table("core_mail_outbox")
