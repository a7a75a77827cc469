"""Ingestion: every row written or the run fails and says how many were not."""

import json

import duckdb
import pyarrow as pa
import pytest

from meshkit.core.errors import IngestionError
from meshkit.data.ingest import Ingester


def read(mk, sql):
    return mk.store("warehouse").connect().execute(sql).fetchall()


def test_rows_objects_dataframes_and_arrow_land_in_one_table(mk):
    import pandas as pd
    import polars as pl

    ing = Ingester(mk, default_store="warehouse", batch_rows=3)
    ing.send_rows([(1, "a"), (2, "b")], ["id", "name"], "t")
    ing.send_object({"id": 3, "name": "c"}, "t")
    ing.send_rows(pd.DataFrame({"id": [4], "name": ["d"]}), [], "t")
    ing.send_rows(pl.DataFrame({"id": [5], "name": ["e"]}), [], "t")
    ing.send_rows(pa.table({"id": [6], "name": ["f"]}), ["id", "name"], "t")
    ing.close()
    assert read(mk, "SELECT id, name FROM t ORDER BY id") == [
        (i, c) for i, c in zip(range(1, 7), "abcdef", strict=True)
    ]
    assert ing.rows_written == 6


def test_new_columns_are_added_when_payloads_bring_them(mk):
    ing = Ingester(mk, default_store="warehouse")
    ing.send_object({"id": 1}, "evolve")
    ing.flush()
    ing.send_object({"id": 2, "extra": "x"}, "evolve")
    ing.send_object({"id": 3, "extra": "y", "more": 1.5}, "evolve")
    ing.close()
    assert read(mk, "SELECT id, extra, more FROM evolve ORDER BY id") == [
        (1, None, None),
        (2, "x", None),
        (3, "y", 1.5),
    ]


def test_failed_batch_fails_with_the_count(mk):
    mk.store("warehouse").connect().execute("CREATE TABLE typed (id INTEGER, amount INTEGER)")
    ing = Ingester(mk, default_store="warehouse", batch_rows=1000)
    ing.send_rows([(i, i * 10) for i in range(5)], ["id", "amount"], "ok_table")
    ing.send_rows([(i, "not a number") for i in range(7)], ["id", "amount"], "typed")
    with pytest.raises(IngestionError) as err:
        ing.close()
    assert err.value.failed_rows == 7 and err.value.total_rows == 12
    assert "7 of 12 rows" in err.value.message and "`typed`" in err.value.message
    assert read(mk, "SELECT count(*) FROM ok_table") == [(5,)]
    assert read(mk, "SELECT count(*) FROM typed") == [(0,)]


def test_mixed_types_in_a_column_are_reported_not_dropped(mk):
    ing = Ingester(mk, default_store="warehouse")
    ing.send_rows([(1, "a"), ("two", "b")], ["id", "name"], "mixed")
    with pytest.raises(IngestionError, match=r"2 of 2 rows .*`id` mixes value types \(int, str\)"):
        ing.close()


def test_row_width_mismatch_is_reported(mk):
    ing = Ingester(mk, default_store="warehouse")
    ing.send_rows([(1, "a"), (2,)], ["id", "name"], "w")
    with pytest.raises(IngestionError, match="Row 2 has 1 values but 2 column names"):
        ing.close()


def test_method_and_target_pick_the_store(mk, tmp_path):
    ing = Ingester(mk, default_store="warehouse")
    db = tmp_path / "other.sqlite"
    ing.send_rows([(1,)], ["x"], "t1", method="sqlite", target=str(db))
    ing.send_rows([(2,)], ["x"], "t2", method="duckdb", target=str(tmp_path / "other.duckdb"))
    ing.close()
    import sqlite3

    assert sqlite3.connect(db).execute("SELECT x FROM t1").fetchall() == [(1,)]
    mk.close()
    assert duckdb.connect(str(tmp_path / "other.duckdb")).execute("SELECT x FROM t2").fetchall() == [(2,)]


def test_failed_ingestion_fails_the_run_with_count(cli, make_job):
    make_job("bad-ingest", {
        "10_make.sql": "CREATE TABLE typed (id INTEGER)",
        "20_send.py": """
            def run(job_input):
                job_input.send_tabular_data_for_ingestion([(i,) for i in range(10)], ["id"], destination_table="fine")
                job_input.send_tabular_data_for_ingestion([("x",), ("y",), ("z",)], ["id"], destination_table="typed")
        """,
    })  # fmt: skip
    result = cli("run", "bad-ingest")
    assert result.exit_code == 1
    assert "3 of 13 rows" in result.stderr
    record = json.loads(cli("runs", "--json").stdout)[0]
    assert record["status"] == "user_error" and "3 of 13 rows" in record["error"]


def test_ingest_arrow_and_query_arrow(cli, make_job, workspace):
    make_job("arrow", {
        "10_ingest.py": """
            import pyarrow as pa

            def run(job_input):
                n = job_input.ingest(pa.table({"k": list(range(1000)), "v": [1.5] * 1000}), "facts")
                assert n == 1000
                job_input.ingest(pa.table({"k": [1], "v": [2.0]}), "facts", mode="overwrite")
                assert job_input.query("SELECT count(*) AS n FROM facts").column("n").to_pylist() == [1]
        """,
    })  # fmt: skip
    result = cli("run", "arrow")
    assert result.exit_code == 0, result.output
