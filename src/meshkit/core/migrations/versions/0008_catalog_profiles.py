"""Catalog: column profiles of datasets (``meshkit profile``).

Revision ID: 0008_catalog_profiles
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_catalog_profiles"
down_revision = "0006_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_profiles",
        sa.Column("dataset", sa.String(400), primary_key=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(200)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalog_profiles")
