"""workspace company profile: legal name, address, tax number, contacts, logo

Revision ID: core_0013
Revises: core_0012
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0013"
down_revision: str | Sequence[str] | None = "core_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("legal_name", 200),
    ("address_line1", 200),
    ("address_line2", 200),
    ("city", 100),
    ("region", 100),
    ("postcode", 20),
    ("country", 2),
    ("tax_number", 30),
    ("phone", 50),
    ("email", 320),
    ("website", 300),
    ("logo", 300),
)


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("core_tenant", sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    for name, _length in reversed(COLUMNS):
        op.drop_column("core_tenant", name)
