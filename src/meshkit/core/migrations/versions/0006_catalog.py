"""Catalog: datasets, products and versions, quality results, lineage, governance audit log.

Revision ID: 0006_catalog
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_catalog"
down_revision = "0001_foundation"
branch_labels = ("catalog",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_datasets",
        sa.Column("id", sa.String(400), primary_key=True),
        sa.Column("store", sa.String(200), nullable=False),
        sa.Column("asset", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32)),
        sa.Column("description", sa.Text),
        sa.Column("owner", sa.String(200)),
        sa.Column("domain", sa.String(200)),
        sa.Column("product", sa.String(200)),
        sa.Column("residency", sa.String(100)),
        sa.Column("tags", sa.JSON),
        sa.Column("columns", sa.JSON),
        sa.Column("rows", sa.BigInteger),
        sa.Column("last_run_id", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "catalog_products",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("domain", sa.String(200)),
        sa.Column("owner", sa.String(200)),
        sa.Column("status", sa.String(32)),
        sa.Column("description", sa.Text),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("published_at", TS, nullable=False),
    )
    op.create_table(
        "catalog_product_versions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(50), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("changes", sa.JSON),
        sa.Column("published_by", sa.String(200)),
        sa.Column("published_at", TS, nullable=False),
    )
    op.create_table(
        "catalog_quality_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset", sa.String(400), nullable=False),
        sa.Column("check_name", sa.String(300), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("observed", sa.JSON),
        sa.Column("message", sa.Text),
        sa.Column("product", sa.String(200)),
        sa.Column("run_id", sa.String(200)),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_catalog_quality_dataset_at", "catalog_quality_results", ["dataset", "at"])
    op.create_table(
        "catalog_lineage",
        sa.Column("source", sa.String(400), primary_key=True),
        sa.Column("target", sa.String(400), primary_key=True),
        sa.Column("source_column", sa.String(300), primary_key=True, server_default=""),
        sa.Column("target_column", sa.String(300), primary_key=True, server_default=""),
        sa.Column("transformation", sa.String(200)),
        sa.Column("run_id", sa.String(200)),
        sa.Column("run_kind", sa.String(32)),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_catalog_lineage_target", "catalog_lineage", ["target"])
    op.create_table(
        "governance_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("user", sa.String(200)),
        sa.Column("role", sa.String(200)),
        sa.Column("team", sa.String(200)),
        sa.Column("purpose", sa.String(200)),
        sa.Column("location", sa.String(100)),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(400), nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("actions", sa.JSON),
        sa.Column("statement", sa.Text),
    )
    op.create_index("ix_governance_audit_at", "governance_audit", ["at"])


def downgrade() -> None:
    for table in ("governance_audit", "catalog_lineage", "catalog_quality_results", "catalog_product_versions",
                  "catalog_products", "catalog_datasets"):  # fmt: skip
        op.drop_table(table)
