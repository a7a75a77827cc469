"""Data jobs run by ``meshkit run`` on real PostgreSQL and MariaDB through the managed connection.

Each test gets its own PostgreSQL schema or MariaDB database (``pg_schema``/``mysql_db``) and a
job whose ``config.ini`` says ``db_default_type``, as a VDK user writes it.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshkit.core.context import Meshkit

pytestmark = pytest.mark.integration


@dataclass
class Database:
    """A managed connection target: its ``db_default_type`` and how the test reads it back."""

    type: str
    dsn: str
    #: SQL type of a short text column in this dialect.
    text: str

    def rows(self, sql: str) -> list[tuple]:
        if self.type == "postgres":
            import psycopg

            with psycopg.connect(self.dsn) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]
        import pymysql

        url = self.dsn.split("://", 1)[1]
        database = url.rsplit("/", 1)[1]
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def columns(self, table: str) -> list[str]:
        if self.type == "postgres":
            sql = f"SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
        else:
            sql = f"SELECT column_name FROM information_schema.columns WHERE table_schema = database() AND table_name = '{table}' ORDER BY ordinal_position"
        return [r[0] for r in self.rows(sql)]


@pytest.fixture(params=["postgres", "mysql"])
def database(request, workspace) -> Database:
    """PostgreSQL (a fresh schema) or MariaDB (a fresh database) as the workspace's managed connection."""
    if request.param == "postgres":
        schema = request.getfixturevalue("pg_schema")
        base = request.getfixturevalue("pg_dsn")
        db = Database("postgres", f"{base}?options=-csearch_path%3D{schema}", "VARCHAR(50)")
    else:
        name = request.getfixturevalue("mysql_db")
        base = request.getfixturevalue("mysql_dsn")
        db = Database("mysql", f"{base.rsplit('/', 1)[0]}/{name}", "VARCHAR(50)")
    toml = workspace.root / "meshkit.toml"
    toml.write_text(toml.read_text().replace("[config]\n", f'[config]\n{db.type}_dsn = "{db.dsn}"\n', 1))
    return db


@pytest.fixture
def job(workspace, database):
    """``job(name, files)`` writes ``jobs/NAME`` with a ``config.ini`` selecting the database."""

    def make(name: str, files: dict[str, str]) -> Path:
        folder = workspace.root / "jobs" / name
        folder.mkdir(parents=True)
        (folder / "config.ini").write_text(
            f"[owner]\nteam = it\n\n[vdk]\ndb_default_type = {database.type}\n"
        )
        for filename, text in files.items():
            (folder / filename).write_text(textwrap.dedent(text))
        return folder

    return make


def last_run(cli) -> dict:
    return json.loads(cli("runs", "--json").stdout)[0]


def test_sql_and_python_steps_with_substitution(cli, job, database):
    job("items", {
        "10_create.sql": f"CREATE TABLE items (id INTEGER, name {database.text});\n"
                         "INSERT INTO items VALUES ({id}, '{name}');\n"
                         "INSERT INTO items VALUES ({id} + 1, 'next');\n",
        "20_query.py": """
            import pandas as pd

            def run(job_input):
                rows = job_input.execute_query("SELECT name FROM items WHERE id = {id}")
                assert rows == [("seven",)], rows
                frame = pd.read_sql("SELECT id, name FROM items ORDER BY id", job_input.get_managed_connection())
                assert frame["name"].tolist() == ["seven", "next"], frame
                table = job_input.query("SELECT count(*) AS n FROM items")
                job_input.send_object_for_ingestion({"checked": int(table.column(0)[0].as_py())}, "checks")
            """,
    })  # fmt: skip
    result = cli("run", "items", "--arg", "id=7", "--arg", "name=seven")
    assert result.exit_code == 0, result.output
    assert database.rows("SELECT id, name FROM items ORDER BY id") == [(7, "seven"), (8, "next")]
    assert database.rows("SELECT checked FROM checks") == [(2,)]
    assert last_run(cli)["rows_written"] == 3  # two INSERT statements and one ingested row


def test_rows_objects_dataframes_and_arrow_with_schema_evolution(cli, job, database):
    job("load", {
        "10_load.py": """
            import datetime
            import pandas as pd
            import pyarrow as pa

            def run(job_input):
                day = datetime.date(2024, 5, 1)
                rows = [(i, f"n{i}", i * 1.5, day) for i in range(1000)]
                job_input.send_tabular_data_for_ingestion(rows, ["id", "name", "amount", "day"], destination_table="facts")
                job_input.flush_ingestion()
                job_input.send_object_for_ingestion({"id": 1000, "name": "obj", "amount": 0.5, "day": day,
                                                     "note": "new column"}, destination_table="facts")
                frame = pd.DataFrame({"id": [1001, 1002], "name": ["df1", "df2"], "amount": [1.0, 2.0]})
                job_input.send_tabular_data_for_ingestion(frame, [], destination_table="facts")
                written = job_input.ingest(pa.table({"id": [1003], "name": ["arrow"], "flag": [True]}), "facts")
                assert written == 1
            """,
    })  # fmt: skip
    result = cli("run", "load")
    assert result.exit_code == 0, result.output
    assert database.columns("facts") == ["id", "name", "amount", "day", "note", "flag"]
    assert database.rows("SELECT count(*), count(note), count(day) FROM facts") == [(1004, 1, 1001)]
    assert database.rows("SELECT note FROM facts WHERE id = 1000") == [("new column",)]
    assert database.rows("SELECT name, amount FROM facts WHERE id = 999") == [("n999", 1498.5)]
    assert database.rows("SELECT name FROM facts WHERE id = 1003") == [("arrow",)]
    assert last_run(cli)["rows_written"] == 1004


def test_failed_ingestion_fails_the_run_with_the_count(cli, job, database):
    job("bad", {
        "10_create.sql": "CREATE TABLE typed (id INTEGER, amount INTEGER);\n",
        "20_send.py": """
            def run(job_input):
                job_input.send_tabular_data_for_ingestion([(i, i * 10) for i in range(5)], ["id", "amount"], "fine")
                job_input.send_tabular_data_for_ingestion([(i, f"x{i}") for i in range(7)], ["id", "amount"], "typed")
            """,
    })  # fmt: skip
    result = cli("run", "bad")
    assert result.exit_code == 1, result.output
    assert "7 of 12 rows" in result.stderr and "`typed`" in result.stderr
    assert "Traceback" not in result.output
    run = last_run(cli)
    assert run["status"] == "user_error" and "7 of 12 rows" in run["error"]
    if database.type == "postgres":  # the step's ingestion is one transaction: none of its rows stay
        assert "other 5 rows sent since the step began were rolled back" in run["error"]
        assert database.columns("fine") == []
    else:
        assert database.rows("SELECT count(*) FROM fine") == [(5,)]
    assert database.rows("SELECT count(*) FROM typed") == [(0,)]


def test_per_query_database_and_ingestion_method_and_target(cli, workspace, database):
    """A job on the default DuckDB warehouse queries and ingests into the database as VDK jobs do."""
    folder = workspace.root / "jobs" / "side"
    folder.mkdir(parents=True)
    (folder / "10_side.py").write_text(
        textwrap.dedent(f"""
        def run(job_input):
            job_input.execute_query("CREATE TABLE side (id INTEGER, label {database.text})", database="{database.type}")
            rows = [(i, "r{{i}}".format(i=i)) for i in range(50)]
            job_input.send_tabular_data_for_ingestion(rows, ["id", "label"], "side", method="{database.type}",
                                                      target="{database.dsn}")
            job_input.send_object_for_ingestion({{"id": 1}}, "local_only")
        """)
    )
    result = cli("run", "side")
    assert result.exit_code == 0, result.output
    assert database.rows("SELECT count(*), max(label) FROM side") == [(50, "r9")]
    assert database.columns("local_only") == []
    with Meshkit.open(workspace.root) as mk:
        assert mk.store("warehouse").connect().execute("SELECT count(*) FROM local_only").fetchall() == [(1,)]


def test_sql_error_names_the_step_line_and_database(cli, job, database):
    job(
        "typo",
        {
            "10_ok.sql": "CREATE TABLE t1 (id INTEGER);\n",
            "20_bad.sql": "SELECT 1;\n\nSELEC broken FROM t1;\n",
        },
    )
    result = cli("run", "typo")
    assert result.exit_code == 1, result.output
    assert "20_bad.sql:3" in result.stderr and f"`{database.type}`" in result.stderr
    assert last_run(cli)["status"] == "user_error"


def test_secret_value_never_reaches_log_or_error_output(cli, workspace):
    secret = "s3cr3t-Value-7f1d"
    assert cli("secrets", "set", "api_token", secret).exit_code == 0
    folder = workspace.root / "jobs" / "leaky"
    folder.mkdir(parents=True)
    (folder / "10_leak.py").write_text(textwrap.dedent("""
        import logging

        log = logging.getLogger("leaky")

        def run(job_input):
            token = job_input.get_secret("api_token")
            log.info("calling the API with token %s", token)
            log.warning(f"token again: {token}")
            raise RuntimeError(f"API refused token {token}")
        """))  # fmt: skip
    result = cli("run", "leaky")
    assert result.exit_code == 1, result.output
    assert "API refused token" in result.stderr
    run = last_run(cli)
    with Meshkit.open(workspace.root) as mk:
        log_text = Path(mk.runs.get(run["id"]).log_path).read_text()
    assert "calling the API with token" in log_text
    shown = cli("runs", "show", run["id"], "--log")
    for text in (result.stdout, result.stderr, log_text, json.dumps(run), shown.output):
        assert secret not in text
    assert secret in cli("secrets", "get", "api_token", "--reveal").stdout


def test_vdk_names_of_the_databases(cli, job, database):
    """VDK's names (``PostgreSQL``, ``MariaDB``) in any case, as db_default_type and as database=."""
    vdk_name = {"postgres": "PostgreSQL", "mysql": "MariaDB"}[database.type]
    job("vdk_names", {
        "config.ini": f"[vdk]\ndb_default_type = {vdk_name.upper()}\n",
        "10_create.sql": "CREATE TABLE vdk_names (id INTEGER)",
        "20_insert.py": f"""
            def run(job_input):
                job_input.execute_query("INSERT INTO vdk_names VALUES (7)", database="{vdk_name}")
        """,
    })  # fmt: skip
    result = cli("run", "vdk_names")
    assert result.exit_code == 0, result.output
    assert database.rows("SELECT id FROM vdk_names") == [(7,)]
