"""billing: subscribing

Revision ID: core_0020
Revises: core_0019
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import core.migrate  # noqa: F401  (registers op.enable_tenant_rls)

revision: str = "core_0020"
down_revision: str | Sequence[str] | None = "core_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
