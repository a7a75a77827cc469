"""Transfer state: the last status, high-water mark and run history of each transfer.

Revision ID: 0003_transfer
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_transfer"
down_revision = "0001_foundation"
branch_labels = ("transfer",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfer_state",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("status", sa.JSON),
        sa.Column("watermark", sa.JSON),
        sa.Column("history", sa.JSON),
        sa.Column("spec", sa.JSON),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("transfer_state")
