"""roles, member roles, api tokens, operators; one-round-trip request resolution

Revision ID: core_0011
Revises: core_0010
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0011"
down_revision: str | Sequence[str] | None = "core_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Resolve a workspace request in one round trip: the workspace (and set the transaction's
# tenant), the credential (browser session or API token, touched at most once a minute),
# the member behind it, their department subtree and custom roles. Runs with the owner's
# rights because sessions and tokens are looked up before the tenant is known; it returns
# only the caller's own member facts.
RESOLVE_REQUEST = """
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

# The workspaces a user is an active member of (their own facts only), for their account page.
USER_WORKSPACES = """
CREATE FUNCTION core_user_workspaces(p_user_id uuid)
RETURNS TABLE (slug text, name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT t.slug::text, t.name::text, m.role::text
    FROM core_membership m JOIN core_tenant t ON t.id = m.tenant_id
   WHERE m.user_id = p_user_id AND m.active
   ORDER BY t.name
$$
"""

RESOLVE_TENANT = """
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
"""


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        )
    ]


def upgrade() -> None:
    op.add_column(
        "core_tenant",
        sa.Column(
            "require_two_factor", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column(
        "core_user_session",
        sa.Column("area", sa.String(length=10), server_default="workspace", nullable=False),
    )
    op.add_column(
        "core_user_session",
        sa.Column(
            "pending_second_factor",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
    )
    op.create_table(
        "core_operator",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_operator_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_operator")),
        sa.UniqueConstraint("user_id", name=op.f("uq_core_operator_user_id")),
        info={"tenancy": "global", "module": "core"},
    )
    op.create_table(
        "core_role",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=300), server_default="", nullable=False),
        sa.Column("permissions", postgresql.ARRAY(sa.String(length=120)), nullable=False),
        sa.Column("scopes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_role")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_core_role_tenant_id_name")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.enable_tenant_rls("core_role")
    op.create_table(
        "core_member_role",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "membership_id"],
            ["core_membership.tenant_id", "core_membership.id"],
            name=op.f("fk_core_member_role_tenant_id_core_membership"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "role_id"],
            ["core_role.tenant_id", "core_role.id"],
            name=op.f("fk_core_member_role_tenant_id_core_role"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_member_role")),
        sa.UniqueConstraint(
            "tenant_id",
            "membership_id",
            "role_id",
            name=op.f("uq_core_member_role_tenant_id_membership_id_role_id"),
        ),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.create_index("ix_core_member_role_role_id", "core_member_role", ["tenant_id", "role_id"])
    op.enable_tenant_rls("core_member_role")
    op.create_table(
        "core_api_token",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("permissions", postgresql.ARRAY(sa.String(length=120)), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["tenant_id", "membership_id"],
            ["core_membership.tenant_id", "core_membership.id"],
            name=op.f("fk_core_api_token_tenant_id_core_membership"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_core_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_api_token_token_hash")),
        info={"tenancy": "tenant", "module": "core"},
    )
    op.create_index(
        "ix_core_api_token_membership_id", "core_api_token", ["tenant_id", "membership_id"]
    )
    op.enable_tenant_rls("core_api_token")
    op.execute("DROP FUNCTION core_resolve_tenant(text)")
    op.execute(RESOLVE_REQUEST)
    op.execute(USER_WORKSPACES)


def downgrade() -> None:
    op.execute("DROP FUNCTION core_user_workspaces(uuid)")
    op.execute("DROP FUNCTION core_resolve_request(text, text, text, integer)")
    op.execute(RESOLVE_TENANT)
    op.drop_index("ix_core_api_token_membership_id", table_name="core_api_token")
    op.drop_table("core_api_token")
    op.drop_index("ix_core_member_role_role_id", table_name="core_member_role")
    op.drop_table("core_member_role")
    op.drop_table("core_role")
    op.drop_table("core_operator")
    op.drop_column("core_user_session", "pending_second_factor")
    op.drop_column("core_user_session", "area")
    op.drop_column("core_tenant", "require_two_factor")
