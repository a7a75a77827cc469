"""``meshkit export trino``: catalogs without secrets, and Trino access rules that decide what meshkit decides.

No Trino runs here: ``rules.json`` is checked against the structure Trino's file-based access
control documents (catalog rules, table rules, column constraints), and each mask and row filter
is run, in DuckDB's dialect, over the data and compared with what the governed query gives.
"""

from __future__ import annotations

import json
import re

import duckdb
import pytest
import sqlglot

from meshkit.core.context import Meshkit
from meshkit.core.workspace import Workspace
from meshkit.deploy.trino import export_trino, store_catalog
from meshkit.governance import Subject
from meshkit.governance.query import GovernedSQL
from meshkit.testing import run_cli

#: Trino's documented fields (security/file-system-access-control): anything else is a mistake.
MATCHERS = {"user", "role", "group"}
CATALOG_RULE = MATCHERS | {"catalog", "allow"}
TABLE_RULE = MATCHERS | {
    "catalog",
    "schema",
    "table",
    "privileges",
    "columns",
    "filter",
    "filter_environment",
}
COLUMN = {"name", "allow", "mask", "mask_environment"}
PRIVILEGES = {"SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"}
ROLES = {"steward": "sam", "analyst": "ann", "marketer": "mo", "intern": "ian"}


def check_structure(rules: dict) -> None:
    assert set(rules) <= {"catalogs", "schemas", "tables", "functions", "procedures", "queries",
                          "impersonation", "system_session_properties", "catalog_session_properties"}  # fmt: skip
    for rule in rules.get("catalogs", []):
        assert set(rule) <= CATALOG_RULE and rule["allow"] in ("all", "read-only", "none"), rule
    for rule in rules.get("tables", []):
        assert set(rule) <= TABLE_RULE and "privileges" in rule and set(rule["privileges"]) <= PRIVILEGES, (
            rule
        )
        for column in rule.get("columns", []):
            assert set(column) <= COLUMN and isinstance(column["name"], str), column
            assert isinstance(column.get("allow", True), bool) and isinstance(column.get("mask", ""), str)
        assert isinstance(rule.get("filter", ""), str)
    for rule in rules.get("catalogs", []) + rules.get("tables", []):
        for key in MATCHERS | {"catalog", "schema", "table"}:
            if key in rule:
                re.compile(rule[key])  # Trino reads them as (Java) regular expressions


@pytest.fixture(scope="module")
def exported(shared_governed, tmp_path_factory):
    out = tmp_path_factory.mktemp("trino")
    result = run_cli(["export", "trino", "-o", str(out)], workspace=shared_governed.workspace.root)
    assert result.exit_code == 0, result.output
    return out


def test_rules_follow_trinos_documented_structure(exported):
    rules = json.loads((exported / "rules.json").read_text())
    check_structure(rules)
    by_role = {r["role"]: r for r in rules["tables"] if r["table"] == "customers"}
    assert by_role["intern"]["privileges"] == [] and by_role["steward"] == {
        "role": "steward", "catalog": "warehouse", "schema": "main", "table": "customers", "privileges": ["SELECT"]}  # fmt: skip
    marketer = by_role["marketer"]
    assert {"name": "name", "allow": False} in marketer["columns"] and marketer["filter"]
    assert rules["catalogs"][-1] == {"catalog": ".*", "allow": "none"}
    properties = (exported / "catalogs" / "warehouse.properties").read_text()
    assert "connector.name=duckdb" in properties and "connection-url=jdbc:duckdb:" in properties


@pytest.mark.parametrize("role", ["steward", "analyst", "marketer"])
def test_masks_and_filters_give_what_meshkit_gives(shared_governed, role):
    """Each role's rule, applied by DuckDB to the clear table, equals the governed query."""
    rules = export_trino(shared_governed).rules
    rule = next(r for r in rules["tables"] if r["role"] == role and r["table"] == "customers")
    columns = {c["name"]: c for c in rule.get("columns", [])}
    clear = shared_governed.store("warehouse").read("customers").read_all()
    items = []
    for name in clear.column_names:
        column = columns.get(name, {})
        if column.get("allow") is False:
            continue
        expression = (
            sqlglot.transpile(column["mask"], read="trino", write="duckdb")[0]
            if "mask" in column
            else f'"{name}"'
        )
        items.append(f'{expression} AS "{name}"')
    where = sqlglot.transpile(rule["filter"], read="trino", write="duckdb")[0] if "filter" in rule else "true"
    conn = duckdb.connect()
    conn.register("customers", clear)
    got = conn.execute(f"SELECT {', '.join(items)} FROM customers WHERE {where} ORDER BY id").to_arrow_table()
    want = GovernedSQL(shared_governed).execute(
        "SELECT * FROM customers ORDER BY id", Subject(ROLES[role], role), None
    )
    assert got.to_pylist() == want.to_pylist()


def test_masks_run_in_spark(shared_governed):
    pytest.importorskip("pyspark.sql")
    rules = export_trino(shared_governed).rules
    rule = next(r for r in rules["tables"] if r["role"] == "marketer" and r["table"] == "customers")
    from meshkit.engines.spark import SparkEngine

    # NOTE: through the engine, which shares one session per process with the engine tests (never stopped here)
    spark = SparkEngine("trino-check", {"master": "local[1]"}, shared_governed).session
    try:
        clear = shared_governed.store("warehouse").read("customers").read_all().to_pandas()
        spark.createDataFrame(clear).createOrReplaceTempView("customers")
        mask = sqlglot.transpile(
            next(c["mask"] for c in rule["columns"] if "mask" in c), read="trino", write="spark"
        )[0]
        # NOTE: sqlglot writes Trino's to_hex(sha256(b)) as Spark's HEX(SHA2(b, 256)), but Spark's SHA2
        # already returns hex text, so HEX would encode it twice: the digest itself is SHA2(b, 256).
        mask = re.sub(r"HEX\((SHA2\(.*?, 256\))\)", r"\1", mask)
        where = sqlglot.transpile(rule["filter"], read="trino", write="spark")[0]
        rows = spark.sql(f"SELECT id, {mask} AS email FROM customers WHERE {where} ORDER BY id").collect()
    finally:
        spark.catalog.dropTempView("customers")
    want = GovernedSQL(shared_governed).execute(
        "SELECT id, email FROM customers ORDER BY id", Subject("mo", "marketer"), None
    )
    assert [tuple(r) for r in rows] == [tuple(r.values()) for r in want.to_pylist()]


def test_store_catalogs_hold_references_not_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("PG_PASSWORD", "pg-secret-value")
    stores = {
        "crm": {"type": "postgres", "host": "db.internal", "port": 5432, "dbname": "crm", "user": "reader",
                "password": "env:PG_PASSWORD"},
        "shop": {"type": "mysql", "dsn": "mysql://shop:literal-secret@mysql.internal:3306/shop"},
        "lakehouse": {"type": "iceberg", "uri": "http://iceberg.internal:8181", "warehouse": "s3://lake/wh",
                      "token": "secret:iceberg-token"},
        "raw": {"type": "files", "url": "s3://raw-bucket/landing", "endpoint_url": "http://minio.internal:9000",
                "access_key": "env:S3_KEY", "secret_key": "env:S3_SECRET"},
    }  # fmt: skip
    got = {name: store_catalog(name, options, tmp_path) for name, options in stores.items()}
    assert got["crm"] == {"connector.name": "postgresql", "connection-url": "jdbc:postgresql://db.internal:5432/crm",
                          "connection-user": "reader", "connection-password": "${ENV:PG_PASSWORD}"}  # fmt: skip
    assert got["shop"]["connection-url"] == "jdbc:mysql://mysql.internal:3306"
    assert got["shop"]["connection-password"] == "${ENV:MESHKIT_SHOP_PASSWORD}"
    assert got["lakehouse"]["iceberg.catalog.type"] == "rest"
    assert got["lakehouse"]["iceberg.rest-catalog.oauth2.token"] == "${ENV:MESHKIT_LAKEHOUSE_TOKEN}"
    assert got["raw"]["connector.name"] == "hive" and got["raw"]["hive.metastore"] == "file"
    assert (
        got["raw"]["s3.aws-secret-key"] == "${ENV:S3_SECRET}" and got["raw"]["s3.path-style-access"] == "true"
    )
    text = json.dumps(got)
    assert "literal-secret" not in text and "pg-secret-value" not in text


def test_a_workspace_store_without_trino_connector_is_skipped(tmp_path):
    from meshkit.core.workspace import init_workspace

    root = init_workspace(tmp_path / "ws").root
    with (root / "meshkit.toml").open("a") as toml:
        toml.write('\n[stores.local]\ntype = "files"\npath = "data/local"\n')
    mk = Meshkit(Workspace.load(root))
    try:
        exported = export_trino(mk)
    finally:
        mk.close()
    assert "local" in exported.skipped and "local" not in exported.catalogs
