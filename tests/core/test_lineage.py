"""Contract of the typed lineage: what every kind of run stores matches docs/schemas/lineage.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa
from test_lifecycle import KINDS, _mk, events  # noqa: F401 - the fixture is used by name

from meshkit.core.lineage import ColumnEdge, Lineage
from meshkit.core.metadata import runs

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "lineage.schema.json").read_text()
)
#: The kind of transformation each kind of run records.
TRANSFORMATION = {
    "job": "sql",
    "template": "sql",
    "build": "model",
    "transfer": "transfer",
    "publish": "product",
}


def test_the_schema_is_valid():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def run_sql_job(mk, root):
    from meshkit.job.runner import run_job

    (root / "jobs" / "j").mkdir(parents=True)
    (root / "jobs" / "j" / "10_make.sql").write_text("CREATE TABLE made AS SELECT 1 AS id")
    (root / "jobs" / "j" / "20_copy.sql").write_text("CREATE TABLE copied AS SELECT id FROM made")
    return run_job(mk, "j", console=False)


@pytest.mark.parametrize("kind", TRANSFORMATION)
def test_stored_lineage_of_each_kind_of_run_matches_the_schema(kind, workspace, events):  # noqa: F811
    run_kind = run_sql_job if kind == "job" else KINDS[kind]
    mk = _mk(workspace)
    try:
        run_kind(mk, workspace.root)
        with mk.metadata.engine.connect() as conn:
            rows = conn.execute(sa.select(runs.c.kind, runs.c.details)).all()
        stored = [details["lineage"] for k, details in rows if k == kind and (details or {}).get("lineage")]
        assert stored, f"no {kind} run stored lineage"
        for lineage in stored:
            jsonschema.validate(lineage, SCHEMA)
            assert lineage["transformation"] == TRANSFORMATION[kind]
            assert Lineage.from_dict(lineage).as_dict() == lineage
        (run,) = [r for r in mk.runs.list(kind=kind) if r.lineage]
        assert run.lineage.table_edges(), run.lineage
    finally:
        mk.close()


def test_a_lineage_round_trips_and_names_its_edges():
    lineage = Lineage(transformation="transfer")
    lineage.read("pg/orders", "pg/orders")
    lineage.wrote("warehouse/orders")
    lineage.link("pg/customers", "warehouse/orders")
    lineage.columns.append(ColumnEdge("pg/orders", "mail", "warehouse/orders", "email", "Digest"))
    assert lineage.inputs == ["pg/orders"]
    assert lineage.table_edges() == [("pg/orders", "warehouse/orders"), ("pg/customers", "warehouse/orders")]
    stored = lineage.as_dict()
    jsonschema.validate(stored, SCHEMA)
    assert Lineage.from_dict(stored) == lineage
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**stored, "inputs": ["no-store"]}, SCHEMA)


def test_a_failed_transfer_adds_no_lineage_to_what_it_did_not_write(workspace):
    import textwrap

    import pyarrow as pa

    from meshkit.catalog.catalog import Catalog
    from meshkit.data.transfer import parse_transfer, run_transfer

    mk = _mk(workspace)
    try:
        mk.store("warehouse").write(
            "words", pa.table({"id": [1, 2], "word": ["one", "two"]}), mode="overwrite"
        )
        spec = textwrap.dedent("""\
            apiVersion: meshkit.io/v1
            kind: BatchTransfer
            metadata: {name: bad-cast}
            spec:
              source: {store: warehouse, asset: words}
              destination: {store: warehouse, asset: numbers, mode: overwrite}
              transformation:
              - action: Cast
                columns: [word]
                options: {type: INTEGER}
              maxFailedRetries: 0
        """)
        result = run_transfer(mk, parse_transfer(spec, "bad-cast.yaml"))
        assert result.error is not None
        (run,) = mk.runs.list(kind="transfer")
        assert run.status == "user_error", run.error
        assert run.lineage.outputs == ["warehouse/numbers"]  # the run says what it meant to write
        assert "warehouse/words" not in Catalog(mk).lineage("warehouse/numbers").upstream()
    finally:
        mk.close()
