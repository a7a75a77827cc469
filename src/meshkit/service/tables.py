"""Control-service tables (jobs, sources, deployments, executions, tokens, audit), in the shared metadata.

The same tables are created by the Alembic migration on the ``service`` branch.
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa

from meshkit.core.metadata import metadata, runs


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp read back as an aware UTC datetime (SQLite returns naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


TS = UTCDateTime()

jobs = sa.Table(
    "service_jobs",
    metadata,
    sa.Column("team", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("contacts", sa.JSON),
    sa.Column("created_by", sa.String(200)),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)

sources = sa.Table(
    "service_sources",
    metadata,
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

deployments = sa.Table(
    "service_deployments",
    metadata,
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
    sa.Index("ix_service_deployments_next", "enabled", "next_run_at"),
)

executions = sa.Table(
    "service_executions",
    metadata,
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
    sa.Index("ix_service_executions_state", "state"),
    sa.Index("ix_service_executions_job", "team", "job", "submitted_at"),
)

tokens = sa.Table(
    "service_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("expires_at", TS),
    sa.Column("revoked_at", TS),
)

audit_log = sa.Table(
    "service_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("team", sa.String(64)),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(300)),
    sa.Column("details", sa.JSON),
    sa.Index("ix_service_audit_team_at", "team", "at"),
)

#: Team-wide execution lists read the shared ``runs`` table newest first.
runs_by_team = sa.Index("ix_runs_team_created", runs.c.team, runs.c.created_at)
