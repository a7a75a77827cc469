"""Control-service tables: jobs, sources, deployments, executions, tokens, audit log.

Revision ID: 0005_service
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_service"
down_revision = "0001_foundation"
branch_labels = ("service",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_jobs",
        sa.Column("team", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("contacts", sa.JSON),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "service_sources",
        sa.Column("team", sa.String(64), primary_key=True),
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("files", sa.JSON),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "service_deployments",
        sa.Column("team", sa.String(64), primary_key=True),
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("schedule", sa.String(120)),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("arguments", sa.JSON),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_delay", sa.Integer, nullable=False, server_default="0"),
        sa.Column("timeout", sa.Integer),
        sa.Column("catch_up", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_run_at", TS),
        sa.Column("updated_by", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_service_deployments_next", "service_deployments", ["enabled", "next_run_at"])
    op.create_table(
        "service_executions",
        sa.Column("run_id", sa.String(200), primary_key=True),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("scheduled_for", TS),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
        sa.Column("executor", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("host", sa.String(200)),
        sa.Column("pid", sa.Integer),
        sa.Column("started_by", sa.String(200)),
        sa.Column("submitted_at", TS, nullable=False),
        sa.Column("launched_at", TS),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint(
            "team", "job", "deployment", "scheduled_for", "attempt", name="uq_service_executions_tick"
        ),
    )
    op.create_index("ix_service_executions_state", "service_executions", ["state"])
    op.create_index("ix_service_executions_job", "service_executions", ["team", "job", "submitted_at"])
    op.create_table(
        "service_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "service_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("team", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300)),
        sa.Column("details", sa.JSON),
    )
    op.create_index("ix_service_audit_team_at", "service_audit", ["team", "at"])
    op.create_index("ix_runs_team_created", "runs", ["team", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_team_created", "runs")
    for table in (
        "service_audit",
        "service_tokens",
        "service_executions",
        "service_deployments",
        "service_sources",
        "service_jobs",
    ):
        op.drop_table(table)
