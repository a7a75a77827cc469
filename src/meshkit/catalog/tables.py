"""Catalog tables in the metadata database (migration branch ``catalog``).

Datasets with their columns and tags, products and their published versions, quality results,
lineage edges at table and column level, and the governance audit log.
"""

from __future__ import annotations

import sqlalchemy as sa

from meshkit.core.metadata import metadata

TS = sa.DateTime(timezone=True)

datasets = sa.Table(
    "catalog_datasets",
    metadata,
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

products = sa.Table(
    "catalog_products",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(50), nullable=False),
    sa.Column("domain", sa.String(200)),
    sa.Column("owner", sa.String(200)),
    sa.Column("status", sa.String(32)),
    sa.Column("description", sa.Text),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("published_at", TS, nullable=False),
)

product_versions = sa.Table(
    "catalog_product_versions",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(50), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("changes", sa.JSON),
    sa.Column("published_by", sa.String(200)),
    sa.Column("published_at", TS, nullable=False),
)

quality_results = sa.Table(
    "catalog_quality_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(400), nullable=False),
    sa.Column("check_name", sa.String(300), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("observed", sa.JSON),
    sa.Column("message", sa.Text),
    sa.Column("product", sa.String(200)),
    sa.Column("run_id", sa.String(200)),
    sa.Column("at", TS, nullable=False),
    sa.Index("ix_catalog_quality_dataset_at", "dataset", "at"),
)

profiles = sa.Table(
    "catalog_profiles",
    metadata,
    sa.Column("dataset", sa.String(400), primary_key=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("run_id", sa.String(200)),
    sa.Column("at", TS, nullable=False),
)

lineage_edges = sa.Table(
    "catalog_lineage",
    metadata,
    sa.Column("source", sa.String(400), primary_key=True),
    sa.Column("target", sa.String(400), primary_key=True),
    # NOTE: '' (not NULL) marks a table-level edge, so the primary key stays unique.
    sa.Column("source_column", sa.String(300), primary_key=True, default=""),
    sa.Column("target_column", sa.String(300), primary_key=True, default=""),
    sa.Column("transformation", sa.String(200)),
    sa.Column("run_id", sa.String(200)),
    sa.Column("run_kind", sa.String(32)),
    sa.Column("updated_at", TS, nullable=False),
    sa.Index("ix_catalog_lineage_target", "target"),
)

audit_log = sa.Table(
    "governance_audit",
    metadata,
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
    sa.Index("ix_governance_audit_at", "at"),
)
