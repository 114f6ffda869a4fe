"""An opportunity's version: the number a form or an API client read, so a change made on
a stale copy is refused instead of silently overwriting someone else's.

Revision ID: crm_0002
Revises: crm_0001
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "crm_0002"
down_revision: str | Sequence[str] | None = "crm_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "crm_opportunity",
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("crm_opportunity", "version")
