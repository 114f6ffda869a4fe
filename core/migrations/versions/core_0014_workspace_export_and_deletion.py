"""workspace export and deletion: exports, deleted status with a grace period, the purge

Revision ID: core_0014
Revises: core_0013
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0014"
down_revision: str | Sequence[str] | None = "core_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every row of one workspace, from every tenant table the catalog lists (module tables
# included), children before the tables they reference. Runs as the owner: the audit log
# is append-only for the app role, and RLS is bypassed, hence the explicit tenant_id and
# the refusal of any workspace that is not deleted and past its grace period.
PURGE = """
CREATE FUNCTION core_purge_tenant(p_tenant uuid)
RETURNS TABLE (table_name text, deleted bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  pending oid[];
  ready oid[];
  t oid;
  n bigint;
BEGIN
  PERFORM 1 FROM core_tenant c
   WHERE c.id = p_tenant AND c.status = 'deleted' AND c.purge_after <= now() FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'workspace % is not deleted and past its grace period', p_tenant
      USING ERRCODE = 'P0002';
  END IF;
  SELECT coalesce(array_agg(c.oid), '{}') INTO pending
    FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
   WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p')
     AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                  AND a.attname = 'tenant_id' AND NOT a.attisdropped);
  WHILE cardinality(pending) > 0 LOOP
    -- The tables no other pending table references (a self-reference goes in one DELETE).
    SELECT coalesce(array_agg(p), '{}') INTO ready FROM unnest(pending) p
     WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k
                        WHERE k.contype = 'f' AND k.confrelid = p AND k.conrelid <> p
                          AND k.conrelid = ANY (pending));
    IF cardinality(ready) = 0 THEN
      RAISE EXCEPTION 'foreign keys between tenant tables form a cycle: %', pending::regclass[];
    END IF;
    FOREACH t IN ARRAY ready LOOP
      EXECUTE format('DELETE FROM %s WHERE tenant_id = $1', t::regclass) USING p_tenant;
      GET DIAGNOSTICS n = ROW_COUNT;
      table_name := t::regclass::text;
      deleted := n;
      RETURN NEXT;
    END LOOP;
    pending := ARRAY(SELECT unnest(pending) EXCEPT SELECT unnest(ready));
  END LOOP;
  DELETE FROM core_tenant c WHERE c.id = p_tenant;
END
$$
"""


def upgrade() -> None:
    op.add_column("core_tenant", sa.Column("deleted_at", sa.DateTime(timezone=True)))
    op.add_column("core_tenant", sa.Column("purge_after", sa.DateTime(timezone=True)))
    op.create_table(
        "core_workspace_export",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("file_key", sa.String(length=300), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["core_user.id"],
            name=op.f("fk_core_workspace_export_requested_by_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_workspace_export")),
    )
    op.create_index(
        "uq_core_workspace_export_in_progress",
        "core_workspace_export",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.enable_tenant_rls("core_workspace_export")
    op.execute(PURGE)


def downgrade() -> None:
    op.execute("DROP FUNCTION core_purge_tenant(uuid)")
    op.drop_index("uq_core_workspace_export_in_progress", table_name="core_workspace_export")
    op.drop_table("core_workspace_export")
    op.drop_column("core_tenant", "purge_after")
    op.drop_column("core_tenant", "deleted_at")
