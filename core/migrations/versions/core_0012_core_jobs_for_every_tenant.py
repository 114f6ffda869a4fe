"""core's scheduled jobs fan out to every active tenant

Revision ID: core_0012
Revises: core_0011
Create Date: 2026-11-23 07:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "core_0012"
down_revision: str | Sequence[str] | None = "core_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tenants a job is for: those with the module on, or every active one for core's jobs.
FAN_OUT = """
CREATE OR REPLACE FUNCTION core_fan_out_job(p_module text, p_job text, p_due timestamptz)
RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH tick AS (
    INSERT INTO core_schedule_tick (id, module_key, job_key, due_at, created_at)
    VALUES (core_uuid7(), p_module, p_job, p_due, now())
    ON CONFLICT DO NOTHING RETURNING 1
  ), fired AS (
    INSERT INTO core_outbox (tenant_id, id, event_type, payload, attempts, available_at,
                             created_at)
    SELECT t.id, core_uuid7(), 'core.job_due.v1',
           jsonb_build_object('module', p_module, 'job', p_job, 'due_at', p_due),
           0, now(), now()
      FROM core_tenant t
     WHERE EXISTS (SELECT 1 FROM tick) AND t.status = 'active'
       AND (p_module = 'core' OR EXISTS (
             SELECT 1 FROM core_tenant_module m
              WHERE m.tenant_id = t.id AND m.module_key = p_module AND m.enabled
                AND (m.until IS NULL OR m.until > now())))
    RETURNING 1
  )
  SELECT count(*)::integer FROM fired
$$
"""

MODULES_ONLY = """
CREATE OR REPLACE FUNCTION core_fan_out_job(p_module text, p_job text, p_due timestamptz)
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
"""


def upgrade() -> None:
    op.execute(FAN_OUT)


def downgrade() -> None:
    op.execute(MODULES_ONLY)
