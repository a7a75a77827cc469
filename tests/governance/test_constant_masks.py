"""Columns masked to one value (redacted, no nulls) are not read, and the result stays masked."""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TOKENS
from meshkit.catalog.catalog import Catalog, ColumnInfo
from meshkit.governance import Subject
from meshkit.governance.flight import GovernedFlightServer, fetch
from meshkit.governance.query import GovernedSQL
from meshkit.governance.sources import null_free_columns

ANALYST = Subject("ann", "analyst", "bi")
CLEAR = {"ann@example.com", "bob@example.com", "Ann Lee", "Bob Ray"}
CONTACTS = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "email": ["ann@example.com", "bob@example.com", "cy@example.com"],
    "name": ["Ann Lee", None, "Bob Ray"],
    "region": ["EU", "US", "EU"],
})  # fmt: skip
COLUMNS = [
    ColumnInfo("id", classified_by="declared"),
    ColumnInfo("email", tags=["pii", "contact"], classified_by="declared"),
    ColumnInfo("name", tags=["pii"], classified_by="declared"),
    ColumnInfo("region", classified_by="declared"),
]


@pytest.fixture
def lake(governed, tmp_path):
    """The governed workspace with a files store `lake` holding contacts as Parquet, served over Flight."""
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace

    root = tmp_path / "lake"
    root.mkdir()
    pq.write_table(CONTACTS, root / "contacts.parquet", row_group_size=2)
    with (governed.workspace.root / "meshkit.toml").open("a") as toml:
        toml.write(f'\n[stores.lake]\ntype = "files"\npath = "{root}"\n')
    mk = Meshkit(Workspace.load(governed.workspace.root))
    Catalog(mk).register_dataset("lake/contacts.parquet", columns=COLUMNS, product="customers", owner="crm")
    server = GovernedFlightServer(mk)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield mk, f"grpc://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(5)
    mk.close()


def test_redacting_a_not_null_column_reads_a_constant_and_keeps_nulls_elsewhere(governed):
    conn = governed.store("warehouse").connect()
    conn.execute("CREATE TABLE contacts (id BIGINT, email VARCHAR NOT NULL, name VARCHAR, region VARCHAR)")
    conn.register("contacts_rows", CONTACTS)
    conn.execute("INSERT INTO contacts SELECT * FROM contacts_rows")
    conn.close()
    Catalog(governed).register_dataset(
        "warehouse/contacts", columns=COLUMNS, product="customers", owner="crm"
    )
    sql = GovernedSQL(governed)
    plan = sql.plan("SELECT * FROM contacts", ANALYST, "analytics")
    assert "'***' AS \"email\"" in plan.sql and '"email" IS NULL' not in plan.sql
    rows = sql.run(plan).sort_by("id").to_pylist()
    assert [r["email"] for r in rows] == ["***"] * 3
    assert [r["name"] for r in rows] == ["***", None, "***"]
    bypass = sql.execute("SELECT max(length(c.email)) AS n FROM contacts c", ANALYST, "analytics")
    assert bypass.column("n").to_pylist() == [3]


def test_parquet_footers_tell_which_columns_hold_no_nulls(lake):
    mk, _ = lake
    assert null_free_columns(mk.store("lake"), "contacts.parquet") == {"id", "email", "region"}
    assert null_free_columns(mk.store("warehouse"), "contacts") == set()


def test_flight_serves_a_parquet_port_masked_without_reading_constant_columns(lake):
    mk, location = lake
    analyst = fetch(location, TOKENS["ann"], "lake/contacts.parquet", "analytics")
    assert analyst.schema.names == ["id", "email", "name", "region"]
    rows = analyst.sort_by("id").to_pylist()
    assert [r["email"] for r in rows] == ["***"] * 3
    assert [r["name"] for r in rows] == ["***", None, "***"]
    assert not any(clear in repr(rows) for clear in CLEAR)
    marketer = fetch(location, TOKENS["mo"], "lake/contacts.parquet", "analytics").sort_by("id").to_pylist()
    assert [r["id"] for r in marketer] == [1, 3] and "name" not in marketer[0]
    assert len(marketer[0]["email"]) == 64 and not any(clear in repr(marketer) for clear in CLEAR)
