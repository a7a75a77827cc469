"""Runs record the process running them (host, pid, start time), so a dead process's runs can be ended.

Revision ID: 0007_run_process
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_run_process"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("host", sa.String(200)))
        batch.add_column(sa.Column("pid", sa.Integer))
        batch.add_column(sa.Column("pid_start", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("pid_start")
        batch.drop_column("pid")
        batch.drop_column("host")
