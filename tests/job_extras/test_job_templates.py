"""The built-in templates (scd1, scd2, periodic_snapshot, insert) run by `meshkit run` through
``job_input.execute_template``, on real DuckDB, PostgreSQL and MariaDB, over several loads."""

import hashlib
import json
from datetime import date, datetime

import duckdb
import pytest

D1, D2, D3 = datetime(2024, 1, 1), datetime(2024, 1, 2), datetime(2024, 1, 3)
MAX = datetime(9999, 12, 31)


class DuckDBSide:
    """The workspace warehouse, written and read by the test between runs."""

    store = "duckdb"
    timestamp = "TIMESTAMP"
    quote = staticmethod(lambda name: f'"{name}"')

    def __init__(self, workspace):
        self.path = str(workspace.root / ".meshkit" / "warehouse.duckdb")
        self.schema_args = {}
        self.cli_options = []

    def name(self, table):
        return table

    def execute(self, sql, rows=None):
        con = duckdb.connect(self.path)
        try:
            if rows:
                con.executemany(sql.replace("%s", "?"), rows)
            else:
                con.execute(sql)
        finally:
            con.close()

    def rows(self, sql):
        con = duckdb.connect(self.path)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


class PostgresSide:
    """A fresh PostgreSQL schema; jobs reach it as their managed connection."""

    store = "postgres"
    timestamp = "TIMESTAMP"
    quote = staticmethod(lambda name: f'"{name}"')

    def __init__(self, dsn, schema):
        self.dsn, self.schema = dsn, schema
        self.schema_args = {"source_schema": schema, "target_schema": schema}
        self.cli_options = ["-c", "db_default_type=postgres", "-c", f"postgres_dsn={dsn}"]

    def name(self, table):
        return f'"{self.schema}"."{table}"'

    def execute(self, sql, rows=None):
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as con:
            if rows:
                con.cursor().executemany(sql, rows)
            else:
                con.execute(sql)

    def rows(self, sql):
        import psycopg

        with psycopg.connect(self.dsn) as con:
            return con.execute(sql).fetchall()


class MySQLSide:
    """A fresh MariaDB database; jobs reach it as their managed connection."""

    store = "mysql"
    #: A MariaDB TIMESTAMP ends in 2038: validity periods are DATETIME.
    timestamp = "DATETIME"
    quote = staticmethod(lambda name: f"`{name}`")

    def __init__(self, dsn, database):
        self.database = database
        dsn = f"{dsn.rsplit('/', 1)[0]}/{database}"
        self.schema_args = {"source_schema": database, "target_schema": database}
        self.cli_options = ["-c", "db_default_type=mysql", "-c", f"mysql_dsn={dsn}"]

    def name(self, table):
        return f"`{self.database}`.`{table}`"

    def _connect(self):
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=self.database,
                               autocommit=True, init_command="SET time_zone = '+00:00'")  # fmt: skip

    def execute(self, sql, rows=None):
        con = self._connect()
        try:
            with con.cursor() as cur:
                cur.executemany(sql, rows) if rows else cur.execute(sql)
        finally:
            con.close()

    def rows(self, sql):
        con = self._connect()
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            con.close()


@pytest.fixture(params=["duckdb", "postgres", "mysql"])
def side(request, workspace):
    if request.param == "duckdb":
        return DuckDBSide(workspace)
    if request.param == "mysql":
        return MySQLSide(request.getfixturevalue("mysql_dsn"), request.getfixturevalue("mysql_db"))
    return PostgresSide(request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema"))


def run_template(cli, side, template, expect_ok=True, **args):
    """Run ``template`` once through `meshkit run` (job `load`) on ``side``; returns the CLI result."""
    arguments = {"template": template, "template_args": {**side.schema_args, **args}}
    result = cli(*side.cli_options, "run", "load", "--arguments", json.dumps(arguments))
    if expect_ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def load(cli, template_job, side):
    """``load(template, **args)`` runs the template on the test's side."""
    return lambda template, expect_ok=True, **args: run_template(cli, side, template, expect_ok, **args)


def replace_source(side, table, columns, rows):
    side.execute(f"DROP TABLE IF EXISTS {side.name(table)}")
    side.execute(f"CREATE TABLE {side.name(table)} ({columns})")
    if rows:
        marks = ", ".join(["%s"] * len(rows[0]))
        side.execute(f"INSERT INTO {side.name(table)} VALUES ({marks})", rows)


def sk(id_, active_from):
    """The surrogate key scd2 gives a new version: md5 of id and active_from."""
    return hashlib.md5(f"{id_}|{active_from:%Y-%m-%d %H:%M:%S}".encode()).hexdigest()


# ---------------------------------------------------------------------------- scd2

SCD2_SOURCE = "id INTEGER, name VARCHAR(50), city VARCHAR(50), score INTEGER, updated_at TIMESTAMP"
SCD2_ARGS = {
    "source_view": "customers_src",
    "target_table": "dim_customer",
    "id_column": "id",
    "value_columns": ["name", "city", "score"],
    "tracked_columns": ["name", "city"],
}
SCD2_QUERY = "SELECT sk, active_from, active_to, id, name, city, score FROM {} ORDER BY id, active_from"


def version(id_, name, city, score, active_from, active_to=MAX, key_from=None):
    return (sk(id_, key_from or active_from), active_from, active_to, id_, name, city, score)


def test_scd2_keeps_versions_over_three_days_of_changes(side, load):
    target = side.name("dim_customer")
    replace_source(side, "customers_src", SCD2_SOURCE, [
        (1, "ann", "paris", 10, D1), (2, "bob", "rome", 20, D1), (3, "cid", "oslo", 30, D1)])  # fmt: skip
    load("scd2", **SCD2_ARGS)
    assert side.rows(SCD2_QUERY.format(target)) == [
        version(1, "ann", "paris", 10, D1), version(2, "bob", "rome", 20, D1), version(3, "cid", "oslo", 30, D1)]  # fmt: skip

    # Day 2: bob moves (a tracked change), cid's untracked score changes, dan is new.
    replace_source(side, "customers_src", SCD2_SOURCE, [
        (2, "bob", "milan", 21, D2), (3, "cid", "oslo", 31, D2), (4, "dan", "lima", 40, D2)])  # fmt: skip
    load("scd2", **SCD2_ARGS)
    day2 = [
        version(1, "ann", "paris", 10, D1),
        version(2, "bob", "rome", 20, D1, D2),
        version(2, "bob", "milan", 21, D2),
        version(3, "cid", "oslo", 30, D1),
        version(4, "dan", "lima", 40, D2),
    ]
    assert side.rows(SCD2_QUERY.format(target)) == day2

    # Day 3: ann moves, bob moves back to rome (a new version, not the first one reopened), and a
    # late correction of dan's day-2 row replaces that version's values but keeps its key.
    day3_source = [(1, "ann", "berlin", 11, D3), (2, "bob", "rome", 22, D3), (4, "dan", "lisbon", 41, D2)]
    replace_source(side, "customers_src", SCD2_SOURCE, day3_source)
    load("scd2", **SCD2_ARGS)
    day3 = [
        version(1, "ann", "paris", 10, D1, D3),
        version(1, "ann", "berlin", 11, D3),
        version(2, "bob", "rome", 20, D1, D2),
        version(2, "bob", "milan", 21, D2, D3),
        version(2, "bob", "rome", 22, D3),
        version(3, "cid", "oslo", 30, D1),
        version(4, "dan", "lisbon", 41, D2),
    ]
    assert side.rows(SCD2_QUERY.format(target)) == day3

    # Loading the same day again changes nothing.
    load("scd2", **SCD2_ARGS)
    assert side.rows(SCD2_QUERY.format(target)) == day3


def test_scd2_leaves_unchanged_rows_untouched(pg_dsn, pg_schema, cli, template_job):
    """PostgreSQL gives a row a new ``xmin`` whenever it is written: unchanged versions keep theirs."""
    side = PostgresSide(pg_dsn, pg_schema)
    target = side.name("dim_customer")
    replace_source(
        side, "customers_src", SCD2_SOURCE, [(1, "ann", "paris", 10, D1), (2, "bob", "rome", 20, D1)]
    )
    run_template(cli, side, "scd2", **SCD2_ARGS)
    before = dict(side.rows(f"SELECT id, xmin::text FROM {target}"))
    replace_source(side, "customers_src", SCD2_SOURCE, [(2, "bob", "milan", 20, D2)])
    run_template(cli, side, "scd2", **SCD2_ARGS)
    after = side.rows(f"SELECT id, xmin::text, active_to FROM {target} ORDER BY id, active_from")
    assert after[0] == (1, before[1], MAX)  # ann: not in the source, not rewritten
    assert [(r[0], r[2]) for r in after[1:]] == [(2, D2), (2, MAX)]
    assert after[1][1] != before[2]  # bob's first version was closed: rewritten


def test_scd2_failure_leaves_the_target_as_it_was(side, load):
    """The versions closed by a load are restored when one of its new versions is rejected."""
    target = side.name("dim_customer")
    ts = side.timestamp
    side.execute(f"CREATE TABLE {target} (sk VARCHAR(64), active_from {ts}, active_to {ts}, id INTEGER, "
                 "name VARCHAR(50), city VARCHAR(50), score INTEGER CHECK (score >= 0))")  # fmt: skip
    replace_source(
        side, "customers_src", SCD2_SOURCE, [(1, "ann", "paris", 10, D1), (2, "bob", "rome", 20, D1)]
    )
    load("scd2", **SCD2_ARGS)
    day1 = side.rows(SCD2_QUERY.format(target))
    assert day1 == [version(1, "ann", "paris", 10, D1), version(2, "bob", "rome", 20, D1)]
    replace_source(
        side, "customers_src", SCD2_SOURCE, [(1, "ann", "berlin", 11, D2), (2, "bob", "milan", -1, D2)]
    )
    result = load("scd2", expect_ok=False, **SCD2_ARGS)
    assert result.exit_code == 1
    assert "sql/merge-versions.sql" in result.output
    assert side.rows(SCD2_QUERY.format(target)) == day1


def test_scd2_merges_source_rows_of_one_id_in_time_order(side, load):
    """A source holding several changes of one id makes a version of each (late rows included)."""
    replace_source(side, "customers_src", SCD2_SOURCE, [
        (1, "ann", "oslo", 3, D3), (1, "ann", "paris", 1, D1), (1, "ann", "paris", 2, D2)])  # fmt: skip
    load("scd2", **SCD2_ARGS)
    assert side.rows(SCD2_QUERY.format(side.name("dim_customer"))) == [
        version(1, "ann", "paris", 1, D1, D3), version(1, "ann", "oslo", 3, D3)]  # fmt: skip


def test_scd2_custom_column_names_and_max_value(side, load):
    """The names are quoted: ``key`` is a reserved word in MariaDB."""
    key = side.quote("key")
    columns = f"{key} VARCHAR(10), colour VARCHAR(10), changed TIMESTAMP"
    replace_source(side, "paint_src", columns, [("a", "red", D1)])
    args = {"source_view": "paint_src", "target_table": "dim_paint", "id_column": "key", "value_columns": "colour",
            "updated_at_column": "changed", "sk_column": "paint_sk", "active_from_column": "valid_from",
            "active_to_column": "valid_to", "active_to_max_value": "2999-01-01"}  # fmt: skip
    load("scd2", **args)
    replace_source(side, "paint_src", columns, [("a", "blue", D2)])
    load("scd2", **args)
    query = f"SELECT paint_sk, valid_from, valid_to, {key}, colour FROM {side.name('dim_paint')} ORDER BY valid_from"
    assert side.rows(query) == [
        (sk("a", D1), D1, D2, "a", "red"), (sk("a", D2), D2, datetime(2999, 1, 1), "a", "blue")]  # fmt: skip


# ---------------------------------------------------------------------------- periodic_snapshot

SNAPSHOT_COLUMNS = "snapshot_date DATE, shop VARCHAR(20), sales INTEGER"
SNAPSHOT_ARGS = {"source_view": "sales_src", "target_table": "fact_sales", "last_arrival_ts": "snapshot_date"}


def test_periodic_snapshot_replaces_the_periods_the_source_holds(side, load):
    j1, j2, j3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)
    query = f"SELECT snapshot_date, shop, sales FROM {side.name('fact_sales')} ORDER BY 1, 2"
    replace_source(
        side, "sales_src", SNAPSHOT_COLUMNS, [(j1, "a", 1), (j1, "b", 2), (j2, "a", 3), (j2, "b", 4)]
    )
    load("periodic_snapshot", **SNAPSHOT_ARGS)
    assert side.rows(query) == [(j1, "a", 1), (j1, "b", 2), (j2, "a", 3), (j2, "b", 4)]

    # Day 2 restated (shop b gone), day 3 new; day 1 stays.
    replace_source(side, "sales_src", SNAPSHOT_COLUMNS, [(j2, "a", 30), (j3, "a", 5), (j3, "b", 6)])
    load("periodic_snapshot", **SNAPSHOT_ARGS)
    assert side.rows(query) == [(j1, "a", 1), (j1, "b", 2), (j2, "a", 30), (j3, "a", 5), (j3, "b", 6)]

    # A backfill of day 1 replaces day 1 only.
    replace_source(side, "sales_src", SNAPSHOT_COLUMNS, [(j1, "c", 7)])
    load("periodic_snapshot", **SNAPSHOT_ARGS)
    assert side.rows(query) == [(j1, "c", 7), (j2, "a", 30), (j3, "a", 5), (j3, "b", 6)]

    # An empty source changes nothing.
    replace_source(side, "sales_src", SNAPSHOT_COLUMNS, [])
    load("periodic_snapshot", **SNAPSHOT_ARGS)
    assert side.rows(query) == [(j1, "c", 7), (j2, "a", 30), (j3, "a", 5), (j3, "b", 6)]


# ---------------------------------------------------------------------------- scd1 and insert

DIM_COLUMNS = "id INTEGER, name VARCHAR(20), amount INTEGER"


def test_scd1_replaces_the_target_with_the_source(side, load):
    args = {"source_view": "dim_src", "target_table": "dim_plain"}
    query = f"SELECT id, name, amount FROM {side.name('dim_plain')} ORDER BY id"
    replace_source(side, "dim_src", DIM_COLUMNS, [(1, "a", 10), (2, "b", 20)])
    load("scd1", **args)
    assert side.rows(query) == [(1, "a", 10), (2, "b", 20)]
    replace_source(side, "dim_src", DIM_COLUMNS, [(2, "b2", 21), (3, "c", 30)])
    load("scd1", **args)
    assert side.rows(query) == [(2, "b2", 21), (3, "c", 30)]


def test_scd1_failure_leaves_the_target_as_it_was(side, load):
    """The delete and the insert are one transaction: a rejected row rolls the delete back."""
    target = side.name("dim_checked")
    side.execute(f"CREATE TABLE {target} (id INTEGER, name VARCHAR(20), amount INTEGER CHECK (amount >= 0))")
    side.execute(f"INSERT INTO {target} VALUES (1, 'kept', 5)")
    replace_source(side, "dim_src", DIM_COLUMNS, [(2, "fine", 1), (3, "negative", -1)])
    result = load("scd1", expect_ok=False, source_view="dim_src", target_table="dim_checked")
    assert result.exit_code == 1
    assert "Template `scd1` failed" in result.output
    assert "sql/replace-target.sql" in result.output
    assert side.rows(f"SELECT id, name, amount FROM {target}") == [(1, "kept", 5)]


def test_insert_appends_the_source_rows(side, load):
    args = {"source_view": "fact_src", "target_table": "fact_events"}
    query = f"SELECT id, name, amount FROM {side.name('fact_events')} ORDER BY id, amount"
    replace_source(side, "fact_src", DIM_COLUMNS, [(1, "a", 10), (2, "b", 20)])
    load("insert", **args)
    replace_source(side, "fact_src", DIM_COLUMNS, [(1, "a", 11)])
    load("insert", **args)
    assert side.rows(query) == [(1, "a", 10), (1, "a", 11), (2, "b", 20)]


# ---------------------------------------------------------------------------- arguments and stores


@pytest.mark.parametrize(
    ("template", "args", "message"),
    [
        (
            "scd2",
            {"source_view": "s", "target_table": "t", "value_columns": ["v"]},
            "needs the argument `id_column`",
        ),
        (
            "periodic_snapshot",
            {"source_view": "s", "target_table": "t"},
            "needs the argument `last_arrival_ts`",
        ),
        ("insert", {"target_table": "t"}, "needs the argument `source_view`"),
        (
            "scd2",
            {
                "source_view": "s",
                "target_table": "t",
                "id_column": "i",
                "value_columns": "a",
                "tracked_columns": "b",
            },
            "tracked_columns ['b'] are not among value_columns",
        ),  # fmt: skip
    ],
)
def test_template_arguments_are_checked_first(cli, template_job, template, args, message):
    result = cli("run", "load", "--arguments", json.dumps({"template": template, "template_args": args}))
    assert result.exit_code == 1
    assert message in result.output


def test_template_on_a_store_type_without_a_version(cli, template_job):
    arguments = {"template": "insert", "template_args": {"source_view": "s", "target_table": "t"}}
    result = cli("-c", "db_default_type=sqlite", "run", "load", "--arguments", json.dumps(arguments))
    assert result.exit_code == 1
    assert "has no version for store `sqlite` of type `sqlite`" in result.output
    assert "duckdb or mysql or postgres" in result.output


def test_a_missing_source_is_named(cli, template_job):
    arguments = {"template": "insert", "template_args": {"source_view": "no_such_view", "target_table": "t"}}
    result = cli("run", "load", "--arguments", json.dumps(arguments))
    assert result.exit_code == 1
    assert "template insert, source check" in result.output
    assert "no_such_view" in result.output


def test_row_counts_are_logged(side, load, workspace):
    replace_source(side, "fact_src", DIM_COLUMNS, [(1, "a", 10), (2, "b", 20)])
    load("insert", source_view="fact_src", target_table="fact_logged")
    logs = sorted((workspace.root / ".meshkit" / "runs").glob("load-*.log"))
    assert "Template insert: INSERT 2 rows (sql/append.sql line" in logs[-1].read_text()


def test_vdk_template_names_run_the_same_templates(side, load):
    query = f"SELECT id, name, amount FROM {side.name('dim_vdk')} ORDER BY id"
    replace_source(side, "dim_src", DIM_COLUMNS, [(1, "a", 10)])
    load("load/dimension/scd1", source_view="dim_src", target_table="dim_vdk")
    assert side.rows(query) == [(1, "a", 10)]
    load("load/fact/insert", source_view="dim_src", target_table="dim_vdk")
    assert side.rows(query) == [(1, "a", 10), (1, "a", 10)]
