"""Triggers of deployments (webhook, object, message, new data) and the events they fired, once each.

Revision ID: 0015_triggers
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_triggers"
down_revision = "0001_foundation"
branch_labels = ("triggers",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_triggers",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_service_triggers_deployment", "service_triggers", ["team", "job", "deployment"])
    op.create_table(
        "service_trigger_events",
        sa.Column("trigger_id", sa.String(300), primary_key=True),
        sa.Column("event", sa.String(500), primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("run_id", sa.String(200)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_service_trigger_events_at", "service_trigger_events", ["trigger_id", "at"])


def downgrade() -> None:
    op.drop_table("service_trigger_events")
    op.drop_table("service_triggers")
