"""core platform tables and the cross-tenant system functions

Revision ID: core_0001
Revises:
Create Date: 2026-11-23 04:37:34.870162
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("core",)
depends_on: str | Sequence[str] | None = None

# The few functions that must see across tenants. They run with the owner's rights
# (SECURITY DEFINER; the owner bypasses RLS) and hand the app role only keys, never rows
# of another tenant's business data.
SYSTEM_FUNCTIONS = [
    # Time-ordered UUIDs (version 7) for rows created in SQL.
    """
    CREATE FUNCTION core_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
      SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
        substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
    $$
    """,
    # Resolve a workspace slug and set the transaction's tenant in one round trip.
    """
    CREATE FUNCTION core_resolve_tenant(p_slug text)
    RETURNS TABLE (tenant_id uuid, tenant_slug text, tenant_status text, tenant_locale text,
                   modules text[])
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      found_tenant core_tenant%ROWTYPE;
    BEGIN
      SELECT * INTO found_tenant FROM core_tenant t WHERE t.slug = p_slug;
      IF NOT FOUND THEN
        RETURN;
      END IF;
      PERFORM set_config('app.tenant_id', found_tenant.id::text, true);
      RETURN QUERY SELECT found_tenant.id, found_tenant.slug::text, found_tenant.status::text,
        found_tenant.locale::text,
        ARRAY(SELECT m.module_key::text FROM core_tenant_module m
               WHERE m.tenant_id = found_tenant.id AND m.enabled
                 AND (m.until IS NULL OR m.until > now())
               ORDER BY m.module_key);
    END
    $$
    """,
    # Lease a batch of due outbox events across tenants (ids only). The new attempts count
    # is the claimer's token: a later claim by another worker changes it.
    """
    CREATE FUNCTION core_claim_outbox(p_batch integer, p_lease_seconds integer)
    RETURNS TABLE (tenant_id uuid, id uuid, attempts integer)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
      UPDATE core_outbox o
         SET lease_until = now() + make_interval(secs => p_lease_seconds),
             attempts = o.attempts + 1
        FROM (SELECT c.tenant_id, c.id FROM core_outbox c
               WHERE c.delivered_at IS NULL AND c.dead_at IS NULL AND c.available_at <= now()
                 AND (c.lease_until IS NULL OR c.lease_until < now())
               ORDER BY c.available_at
               LIMIT p_batch
               FOR UPDATE SKIP LOCKED) due
       WHERE o.tenant_id = due.tenant_id AND o.id = due.id
      RETURNING o.tenant_id, o.id, o.attempts
    $$
    """,
    # Fire a scheduled job once per due time: one core.job_due.v1 event per tenant that
    # has the module on. The tick row makes a second worker's call a no-op.
    """
    CREATE FUNCTION core_fan_out_job(p_module text, p_job text, p_due timestamptz)
    RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
      WITH tick AS (
        INSERT INTO core_schedule_tick (id, module_key, job_key, due_at, created_at)
        VALUES (core_uuid7(), p_module, p_job, p_due, now())
        ON CONFLICT DO NOTHING RETURNING 1
      ), fired AS (
        INSERT INTO core_outbox (tenant_id, id, event_type, payload, attempts, available_at,
                                 created_at)
        SELECT m.tenant_id, core_uuid7(), 'core.job_due.v1',
               jsonb_build_object('module', p_module, 'job', p_job, 'due_at', p_due),
               0, now(), now()
          FROM core_tenant_module m JOIN core_tenant t ON t.id = m.tenant_id
         WHERE EXISTS (SELECT 1 FROM tick) AND m.module_key = p_module AND m.enabled
           AND (m.until IS NULL OR m.until > now()) AND t.status = 'active'
        RETURNING 1
      )
      SELECT count(*)::integer FROM fired
    $$
    """,
    # The dead letters across tenants, for the operator's CLI: keys, types and errors
    # only, never the payload (the worker's delivery log, not the tenant's business data).
    """
    CREATE FUNCTION core_dead_letters(p_limit integer)
    RETURNS TABLE (tenant_id uuid, tenant_slug text, event_id uuid, event_type text,
                   handler text, attempts integer, last_error text, failed_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
      SELECT d.tenant_id, t.slug::text, d.event_id, o.event_type::text, d.handler::text,
             d.attempts, d.last_error, d.finished_at
        FROM core_event_delivery d
        JOIN core_outbox o ON o.tenant_id = d.tenant_id AND o.id = d.event_id
        LEFT JOIN core_tenant t ON t.id = d.tenant_id
       WHERE d.status = 'dead'
       ORDER BY d.finished_at DESC, d.tenant_id, d.event_id, d.handler
       LIMIT p_limit
    $$
    """,
]


def upgrade() -> None:
    op.create_table(
        "core_approval_policy",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=63), nullable=True),
        sa.Column("auto_approve_below", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_approval_policy")),
        sa.UniqueConstraint(
            "tenant_id",
            "kind",
            name=op.f("uq_core_approval_policy_tenant_id_kind"),
            postgresql_nulls_not_distinct=True,
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_approval_policy")
    op.create_table(
        "core_outbox",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "available_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_outbox")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_outbox")
    op.create_index(
        "ix_core_outbox_due",
        "core_outbox",
        ["available_at"],
        unique=False,
        postgresql_where=sa.text("delivered_at IS NULL AND dead_at IS NULL"),
    )
    op.create_table(
        "core_schedule_tick",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("module_key", sa.String(length=31), nullable=False),
        sa.Column("job_key", sa.String(length=63), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_schedule_tick")),
        sa.UniqueConstraint(
            "module_key",
            "job_key",
            "due_at",
            name=op.f("uq_core_schedule_tick_module_key_job_key_due_at"),
        ),
        info={"tenancy": "global", "module": "core"},
    )
    op.create_table(
        "core_tenant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_tenant")),
        sa.UniqueConstraint("slug", name=op.f("uq_core_tenant_slug")),
        info={"tenancy": "global", "module": "core"},
    )
    op.create_table(
        "core_tenant_module",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("module_key", sa.String(length=31), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column(
            "since", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_tenant_module")),
        sa.UniqueConstraint(
            "tenant_id", "module_key", name=op.f("uq_core_tenant_module_tenant_id_module_key")
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_tenant_module")
    op.create_table(
        "core_user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_user")),
        info={"tenancy": "global", "module": "core"},
    )
    op.create_index(
        "uq_core_user_email_lower", "core_user", [sa.literal_column("lower(email)")], unique=True
    )
    op.create_table(
        "core_approval_request",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=63), nullable=False),
        sa.Column("subject_type", sa.String(length=63), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("engine", sa.String(length=31), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["core_user.id"],
            name=op.f("fk_core_approval_request_decided_by_core_user"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["core_user.id"],
            name=op.f("fk_core_approval_request_requester_id_core_user"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_approval_request")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_approval_request")
    op.create_index(
        "ix_core_approval_request_pending",
        "core_approval_request",
        ["tenant_id", "status"],
        unique=False,
    )
    op.create_table(
        "core_event_delivery",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("handler", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "event_id"],
            ["core_outbox.tenant_id", "core_outbox.id"],
            name=op.f("fk_core_event_delivery_tenant_id_event_id_core_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_event_delivery")),
        sa.UniqueConstraint(
            "tenant_id",
            "event_id",
            "handler",
            name=op.f("uq_core_event_delivery_tenant_id_event_id_handler"),
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_event_delivery")
    op.create_index(
        "ix_core_event_delivery_dead",
        "core_event_delivery",
        ["finished_at"],
        unique=False,
        postgresql_where=sa.text("status = 'dead'"),
    )
    op.create_table(
        "core_membership",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_membership_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_membership")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_core_membership_tenant_id_user_id")
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_membership")
    for statement in SYSTEM_FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    for name in (
        "core_dead_letters(integer)",
        "core_fan_out_job(text, text, timestamptz)",
        "core_claim_outbox(integer, integer)",
        "core_resolve_tenant(text)",
        "core_uuid7()",
    ):
        op.execute(f"DROP FUNCTION {name}")
    op.drop_table("core_membership")
    op.drop_index(
        "ix_core_event_delivery_dead",
        table_name="core_event_delivery",
        postgresql_where=sa.text("status = 'dead'"),
    )
    op.drop_table("core_event_delivery")
    op.drop_index("ix_core_approval_request_pending", table_name="core_approval_request")
    op.drop_table("core_approval_request")
    op.drop_index("uq_core_user_email_lower", table_name="core_user")
    op.drop_table("core_user")
    op.drop_table("core_tenant_module")
    op.drop_table("core_tenant")
    op.drop_table("core_schedule_tick")
    op.drop_index(
        "ix_core_outbox_due",
        table_name="core_outbox",
        postgresql_where=sa.text("delivered_at IS NULL AND dead_at IS NULL"),
    )
    op.drop_table("core_outbox")
    op.drop_table("core_approval_policy")
