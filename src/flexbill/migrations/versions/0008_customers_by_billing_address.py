"""customers by billing address: an index on lower(email), which the members' portal looks customers up by on
every page (PostgreSQL only, as in the models: SQLite cannot reflect an index on an expression)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_customers_lower_email", "customers", [sa.text("lower(email)")], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_customers_lower_email", table_name="customers")
