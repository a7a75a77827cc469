"""The engine interface on DuckDB: choosing an engine, relations with pushdown, writes, errors."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshkit.core.errors import ConfigError
from meshkit.engines import engine_names, engine_types, open_engine
from meshkit.engines.duckdb import DuckDBEngine
from meshkit.testing import plugin_workspace

TABLE = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None]})


def declare(workspace, text: str):
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + text)
    return plugin_workspace(workspace.root)


def test_engines_come_from_the_register_engines_hook(mk):
    assert {"duckdb", "spark"} <= set(engine_types(mk))
    with open_engine(mk) as engine:
        assert isinstance(engine, DuckDBEngine) and engine.store is None
        assert engine.describe()["merge"] is True and engine.describe()["dialect"] == "duckdb"


def test_duckdb_runs_in_the_file_of_the_duckdb_store_it_touches(mk):
    warehouse = mk.store("warehouse")
    warehouse.write("people", TABLE)
    with open_engine(mk, stores=(mk.store("sqlite"), warehouse)) as engine:
        assert engine.store is warehouse and engine.can_scan(warehouse)
        assert engine.fetch_one('SELECT count(*) FROM "people"') == (3,)


def test_an_unknown_engine_is_a_config_error_with_a_suggestion(workspace):
    mk = declare(workspace, '\n[engines.cluster]\ntype = "spark"\n')
    try:
        assert engine_names(mk) == ["cluster", "duckdb"]
        with pytest.raises(ConfigError, match="Did you mean `cluster`") as caught:
            open_engine(mk, "clustr", where="spec.engine")
        assert str(caught.value).startswith("spec.engine: Unknown engine `clustr`.")
    finally:
        mk.close()


def test_an_engine_of_unknown_type_names_its_table(workspace):
    mk = declare(workspace, '\n[engines.big]\ntype = "flink"\n')
    try:
        with pytest.raises(ConfigError, match=r"meshkit.toml \[engines.big\].*unknown type `flink`"):
            open_engine(mk, "big")
    finally:
        mk.close()


def test_the_workspace_default_engine_is_the_engine_config_key(workspace):
    mk = declare(workspace, '\n[engines.local]\ntype = "duckdb"\n')
    mk.close()
    text = (
        (workspace.root / "meshkit.toml").read_text().replace("[config]\n", '[config]\nengine = "local"\n', 1)
    )
    (workspace.root / "meshkit.toml").write_text(text)
    mk = plugin_workspace(workspace.root)
    try:
        with open_engine(mk) as engine:
            assert engine.name == "local" and engine.type == "duckdb"
    finally:
        mk.close()


def test_relations_push_projection_and_predicate_into_the_postgres_scan(mk, pg_dsn, pg_schema):
    store = mk.new_store(pg_dsn)
    try:
        store.write(f"{pg_schema}.people", TABLE)
        with open_engine(mk) as engine:
            relation = engine.relation(store, f"{pg_schema}.people", columns=["name"], predicate="id >= 2")
            assert relation.kind == "postgres scanner" and relation.schema.names == ["name"]
            plan = "\n".join(
                r[1] for r in engine.conn.execute(f"EXPLAIN SELECT * FROM {relation.sql}").fetchall()
            )
            assert "POSTGRES_SCAN" in plan.upper() and "Filters" in plan
            names = engine.query(f"SELECT * FROM {relation.sql}").read_all().column("name").to_pylist()
            assert sorted(names, key=str) == [None, "b"]
            relation.release()
    finally:
        store.close()


def test_create_insert_merge_and_swap(mk):
    with open_engine(mk) as engine:
        stream = engine.register_arrow(TABLE.to_reader())
        assert not stream.rescannable
        engine.create_table_as("t", f"SELECT * FROM {stream.sql}")
        engine.insert("t", "SELECT 4 AS id, 'd' AS name")
        engine.merge("t", "SELECT 1 AS id, 'A' AS name UNION ALL SELECT 5, 'e'", ["id"])
        engine.create_table_as("stage", "SELECT * FROM t WHERE id > 1")
        engine.swap("stage", "t")
        rows = engine.query("SELECT * FROM t ORDER BY id", batch_rows=2).read_all().to_pylist()
    assert rows == [
        {"id": 2, "name": "b"},
        {"id": 3, "name": None},
        {"id": 4, "name": "d"},
        {"id": 5, "name": "e"},
    ]


def test_a_registered_udf_is_callable_from_sql(mk):
    from meshkit.data.transforms.base import Udf

    def shout(values):
        return pa.array([None if v is None else v.upper() for v in values.to_pylist()])

    with open_engine(mk) as engine:
        engine.register_udf(Udf("shout", shout, ["VARCHAR"], "VARCHAR"))
        assert engine.fetch_one("SELECT shout('hi')") == ("HI",)


def test_spark_options_are_checked_before_any_jvm_starts(workspace):
    mk = declare(workspace, '\n[engines.cluster]\ntype = "spark"\nmastr = "local[1]"\n')
    try:
        with pytest.raises(ConfigError, match=r"Unknown option\(s\) mastr of engine `cluster`"):
            open_engine(mk, "cluster")
    finally:
        mk.close()
