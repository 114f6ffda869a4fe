"""billing: a module's access in a workspace (full or read-only, and when it turns read-only)

Revision ID: core_0017
Revises: core_0016
Create Date: 2026-12-01 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0017"
down_revision: str | Sequence[str] | None = "core_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# core_0011's request resolution, with the read-only modules beside the enabled ones (a
# subset of them), so the guard knows both from its one round trip. A module is read-only
# when its row says so, or once the moment it turns read-only by itself (a trial's end, a
# past-due grace's end) has come: no job has to run on time for a lapsed module to stop
# taking writes.
RESOLVE_REQUEST = """
CREATE FUNCTION core_resolve_request(
  p_slug text, p_session_hash text, p_token_hash text, p_idle_minutes integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, tenant_status text, tenant_locale text,
               modules text[], read_only_modules text[], require_two_factor boolean, credential_valid boolean,
               user_id uuid, user_two_factor boolean, membership_id uuid, base_role text,
               department_id uuid, department_tree uuid[], custom_roles jsonb,
               token_permissions text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  t core_tenant%ROWTYPE;
  v_user uuid;
  v_credential uuid;
  v_last timestamptz;
  v_token_permissions text[];
  m core_membership%ROWTYPE;
BEGIN
  SELECT * INTO t FROM core_tenant c WHERE c.slug = p_slug;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM set_config('app.tenant_id', t.id::text, true);
  IF p_session_hash IS NOT NULL THEN
    SELECT s.id, s.user_id, s.last_seen_at INTO v_credential, v_user, v_last
      FROM core_user_session s
     WHERE s.token_hash = p_session_hash AND s.area = 'workspace'
       AND NOT s.pending_second_factor AND s.revoked_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
    IF FOUND AND v_last < now() - interval '1 minute' THEN
      UPDATE core_user_session s SET last_seen_at = now() WHERE s.id = v_credential;
    END IF;
  ELSIF p_token_hash IS NOT NULL THEN
    SELECT k.id, k.last_used_at, k.permissions, mm.user_id
      INTO v_credential, v_last, v_token_permissions, v_user
      FROM core_api_token k
      JOIN core_membership mm ON mm.tenant_id = k.tenant_id AND mm.id = k.membership_id
     WHERE k.token_hash = p_token_hash AND k.tenant_id = t.id AND k.revoked_at IS NULL
       AND (k.expires_at IS NULL OR k.expires_at > now());
    IF FOUND AND (v_last IS NULL OR v_last < now() - interval '1 minute') THEN
      UPDATE core_api_token k SET last_used_at = now()
       WHERE k.tenant_id = t.id AND k.id = v_credential;
    END IF;
  END IF;
  IF v_user IS NOT NULL THEN
    SELECT * INTO m FROM core_membership mm
     WHERE mm.tenant_id = t.id AND mm.user_id = v_user AND mm.active;
  END IF;
  RETURN QUERY SELECT
    t.id, t.slug::text, t.status::text, t.locale::text,
    ARRAY(SELECT tm.module_key::text FROM core_tenant_module tm
           WHERE tm.tenant_id = t.id AND tm.enabled AND (tm.until IS NULL OR tm.until > now())
           ORDER BY tm.module_key),
    ARRAY(SELECT tm.module_key::text FROM core_tenant_module tm
           WHERE tm.tenant_id = t.id AND tm.enabled AND (tm.until IS NULL OR tm.until > now())
             AND (tm.access = 'read_only' OR tm.read_only_from <= now())
           ORDER BY tm.module_key),
    t.require_two_factor,
    v_credential IS NOT NULL,
    v_user,
    (SELECT u.totp_enabled_at IS NOT NULL FROM core_user u WHERE u.id = v_user),
    m.id, m.role::text, m.department_id,
    ARRAY(SELECT d.id FROM core_department d, core_department top
           WHERE top.tenant_id = t.id AND top.id = m.department_id
             AND d.tenant_id = t.id AND d.path LIKE top.path || '%'),
    COALESCE((SELECT jsonb_agg(jsonb_build_array(r.permissions, r.scopes))
                FROM core_member_role mr
                JOIN core_role r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
               WHERE mr.tenant_id = t.id AND mr.membership_id = m.id), '[]'::jsonb),
    v_token_permissions;
END
$$
"""

# core_0011's, as it was.
PREVIOUS_RESOLVE_REQUEST = """
CREATE FUNCTION core_resolve_request(
  p_slug text, p_session_hash text, p_token_hash text, p_idle_minutes integer)
RETURNS TABLE (tenant_id uuid, tenant_slug text, tenant_status text, tenant_locale text,
               modules text[], require_two_factor boolean, credential_valid boolean,
               user_id uuid, user_two_factor boolean, membership_id uuid, base_role text,
               department_id uuid, department_tree uuid[], custom_roles jsonb,
               token_permissions text[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  t core_tenant%ROWTYPE;
  v_user uuid;
  v_credential uuid;
  v_last timestamptz;
  v_token_permissions text[];
  m core_membership%ROWTYPE;
BEGIN
  SELECT * INTO t FROM core_tenant c WHERE c.slug = p_slug;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM set_config('app.tenant_id', t.id::text, true);
  IF p_session_hash IS NOT NULL THEN
    SELECT s.id, s.user_id, s.last_seen_at INTO v_credential, v_user, v_last
      FROM core_user_session s
     WHERE s.token_hash = p_session_hash AND s.area = 'workspace'
       AND NOT s.pending_second_factor AND s.revoked_at IS NULL AND s.expires_at > now()
       AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
    IF FOUND AND v_last < now() - interval '1 minute' THEN
      UPDATE core_user_session s SET last_seen_at = now() WHERE s.id = v_credential;
    END IF;
  ELSIF p_token_hash IS NOT NULL THEN
    SELECT k.id, k.last_used_at, k.permissions, mm.user_id
      INTO v_credential, v_last, v_token_permissions, v_user
      FROM core_api_token k
      JOIN core_membership mm ON mm.tenant_id = k.tenant_id AND mm.id = k.membership_id
     WHERE k.token_hash = p_token_hash AND k.tenant_id = t.id AND k.revoked_at IS NULL
       AND (k.expires_at IS NULL OR k.expires_at > now());
    IF FOUND AND (v_last IS NULL OR v_last < now() - interval '1 minute') THEN
      UPDATE core_api_token k SET last_used_at = now()
       WHERE k.tenant_id = t.id AND k.id = v_credential;
    END IF;
  END IF;
  IF v_user IS NOT NULL THEN
    SELECT * INTO m FROM core_membership mm
     WHERE mm.tenant_id = t.id AND mm.user_id = v_user AND mm.active;
  END IF;
  RETURN QUERY SELECT
    t.id, t.slug::text, t.status::text, t.locale::text,
    ARRAY(SELECT tm.module_key::text FROM core_tenant_module tm
           WHERE tm.tenant_id = t.id AND tm.enabled AND (tm.until IS NULL OR tm.until > now())
           ORDER BY tm.module_key),
    t.require_two_factor,
    v_credential IS NOT NULL,
    v_user,
    (SELECT u.totp_enabled_at IS NOT NULL FROM core_user u WHERE u.id = v_user),
    m.id, m.role::text, m.department_id,
    ARRAY(SELECT d.id FROM core_department d, core_department top
           WHERE top.tenant_id = t.id AND top.id = m.department_id
             AND d.tenant_id = t.id AND d.path LIKE top.path || '%'),
    COALESCE((SELECT jsonb_agg(jsonb_build_array(r.permissions, r.scopes))
                FROM core_member_role mr
                JOIN core_role r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
               WHERE mr.tenant_id = t.id AND mr.membership_id = m.id), '[]'::jsonb),
    v_token_permissions;
END
$$
"""

DROP_RESOLVE_REQUEST = "DROP FUNCTION core_resolve_request(text, text, text, integer)"


def upgrade() -> None:
    op.add_column(
        "core_tenant_module",
        sa.Column("access", sa.String(length=10), server_default="full", nullable=False),
    )
    op.add_column(
        "core_tenant_module",
        sa.Column("read_only_from", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_core_tenant_module_access"),
        "core_tenant_module",
        "access IN ('full', 'read_only')",
    )
    # The function's result gains a column, which CREATE OR REPLACE cannot do.
    op.execute(DROP_RESOLVE_REQUEST)
    op.execute(RESOLVE_REQUEST)


def downgrade() -> None:
    op.execute(DROP_RESOLVE_REQUEST)
    op.execute(PREVIOUS_RESOLVE_REQUEST)
    op.drop_constraint(op.f("ck_core_tenant_module_access"), "core_tenant_module", type_="check")
    op.drop_column("core_tenant_module", "read_only_from")
    op.drop_column("core_tenant_module", "access")
