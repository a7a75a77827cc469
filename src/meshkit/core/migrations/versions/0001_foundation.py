"""Foundation tables: runs, run steps, properties, secrets.

Revision ID: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_foundation"
down_revision = None
branch_labels = ("foundation",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("rows_written", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("log_path", sa.Text),
        sa.Column("arguments", sa.JSON),
        sa.Column("details", sa.JSON),
        sa.Column("parent_id", sa.String(200)),
    )
    op.create_index("ix_runs_name_created", "runs", ["name", "created_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("rows_written", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "properties",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("value", sa.JSON),
        sa.Column("updated_at", TS),
    )
    op.create_table(
        "secrets",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", TS),
    )


def downgrade() -> None:
    for table in ("secrets", "properties", "run_steps", "runs"):
        op.drop_table(table)
