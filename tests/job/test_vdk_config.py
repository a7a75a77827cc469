"""VDK jobs configured as VDK reads them: ``config.ini`` sections, ``VDK_*`` variables, the settings
of VDK's sqlite and duckdb plugins, named connections and ``[name]`` lines of SQL steps."""

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

COUNT_STEP = """
def run(job_input):
    job_input.send_tabular_data_for_ingestion([(1, "a"), (2, "b")], ["id", "name"], destination_table="items")
"""


def last_run(cli):
    return json.loads(cli("runs", "--json").stdout)[0]


def sqlite_rows(path, sql="SELECT id, name FROM items ORDER BY id"):
    with sqlite3.connect(path) as con:
        return con.execute(sql).fetchall()


def duckdb_rows(path, sql="SELECT id, name FROM items ORDER BY id"):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize(
    "section, value",
    [("job", "SQLITE"), ("vdk", "sqlite"), ("vdk", "SQLite"), ("job", "sqlite")],
)
def test_db_default_type_from_job_or_vdk_section_in_any_case(workspace, make_job, cli, section, value):
    make_job("j", {"config.ini": f"[{section}]\ndb_default_type = {value}\n", "10_load.py": COUNT_STEP})
    result = cli("run", "j")
    assert result.exit_code == 0, result.output
    assert sqlite_rows(workspace.root / ".meshkit" / "warehouse.sqlite") == [(1, "a"), (2, "b")]


def test_vdk_section_wins_over_job_section(workspace, make_job, cli):
    make_job("j", {"config.ini": "[job]\ndb_default_type = SQLITE\n[vdk]\ndb_default_type = DuckDB\n",
                   "10_load.py": COUNT_STEP})  # fmt: skip
    assert cli("run", "j").exit_code == 0
    assert not (workspace.root / ".meshkit" / "warehouse.sqlite").exists()
    assert duckdb_rows(workspace.root / ".meshkit" / "warehouse.duckdb") == [(1, "a"), (2, "b")]


def test_vdk_environment_variables_name_the_connection_and_its_file(
    workspace, make_job, cli, monkeypatch, tmp_path
):
    monkeypatch.setenv("VDK_DB_DEFAULT_TYPE", "SQLITE")
    monkeypatch.setenv("VDK_SQLITE_FILE", str(tmp_path / "vdk.db"))
    make_job("j", {"10_load.py": COUNT_STEP, "20_count.sql": "SELECT count(*) FROM items"})
    result = cli("run", "j")
    assert result.exit_code == 0, result.output
    assert sqlite_rows(tmp_path / "vdk.db") == [(1, "a"), (2, "b")]


@pytest.mark.parametrize("variable", ["DUCKDB_DATABASE", "VDK_DUCKDB_DATABASE"])
def test_duckdb_plugin_setting_names_the_warehouse_file(
    workspace, make_job, cli, monkeypatch, tmp_path, variable
):
    monkeypatch.setenv("DB_DEFAULT_TYPE", "ignored: meshkit reads VDK_DB_DEFAULT_TYPE only")
    monkeypatch.setenv(variable, str(tmp_path / "vdk.duckdb"))
    make_job("j", {"config.ini": "[vdk]\ndb_default_type = DUCKDB\n", "10_load.py": COUNT_STEP})
    result = cli("run", "j")
    assert result.exit_code == 0, result.output
    assert duckdb_rows(tmp_path / "vdk.duckdb") == [(1, "a"), (2, "b")]


def test_duckdb_database_in_vdk_section(workspace, make_job, cli, tmp_path):
    config = f"[vdk]\ndb_default_type = duckdb\nduckdb_database = {tmp_path / 'job.duckdb'}\n"
    make_job("j", {"config.ini": config, "10_load.py": COUNT_STEP})
    assert cli("run", "j").exit_code == 0
    assert duckdb_rows(tmp_path / "job.duckdb") == [(1, "a"), (2, "b")]


def test_ingest_method_and_target_defaults_from_the_environment(
    workspace, make_job, cli, monkeypatch, tmp_path
):
    monkeypatch.setenv("VDK_INGEST_METHOD_DEFAULT", "SQLITE")
    monkeypatch.setenv("VDK_INGEST_TARGET_DEFAULT", str(tmp_path / "target.db"))
    make_job("j", {"10_load.py": COUNT_STEP})
    assert cli("run", "j").exit_code == 0
    assert sqlite_rows(tmp_path / "target.db") == [(1, "a"), (2, "b")]
    assert not (workspace.root / ".meshkit" / "warehouse.sqlite").exists()


@pytest.mark.parametrize("store", ["sqlite", "duckdb"])
def test_auto_create_flag_off_refuses_a_missing_table(workspace, make_job, cli, monkeypatch, store):
    monkeypatch.setenv(f"{store.upper()}_INGEST_AUTO_CREATE_TABLE_ENABLED", "false")
    make_job("j", {"config.ini": f"[vdk]\ndb_default_type = {store}\n", "10_load.py": COUNT_STEP})
    result = cli("run", "j")
    assert result.exit_code == 1
    assert "items" in result.output
    assert "2 of 2 rows" in result.output
    make_job("k", {"config.ini": f"[vdk]\ndb_default_type = {store}\n",
                   "05_create.sql": "CREATE TABLE items (id INTEGER, name VARCHAR)", "10_load.py": COUNT_STEP})  # fmt: skip
    assert cli("run", "k").exit_code == 0


def test_temporary_write_directory_as_vdk_defines_it(workspace, make_job, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("VDK_TEMPORARY_WRITE_DIRECTORY", str(tmp_path / "scratch"))
    make_job("j", {"10_tmp.py": """
        def run(job_input):
            path = job_input.get_temporary_write_directory()
            (path / "note.txt").write_text(str(path))
    """})  # fmt: skip
    assert cli("run", "j").exit_code == 0
    assert cli("run", "j").exit_code == 0  # the same folder for every run, as in VDK
    assert (tmp_path / "scratch" / "note.txt").read_text() == str(tmp_path / "scratch")


def test_temporary_write_directory_defaults_to_the_process_scratch_folder(workspace, make_job, cli):
    """Unset, it is meshkit's: a folder of the run in the process's scratch folder (removed with it)."""
    make_job("j", {"10_tmp.py": """
        def run(job_input):
            path = job_input.get_temporary_write_directory()
            (path / "note.txt").write_text("scratch")
            job_input.send_object_for_ingestion({"path": str(path)}, destination_table="seen")
    """})  # fmt: skip
    assert cli("run", "j").exit_code == 0
    with duckdb.connect(str(workspace.root / ".meshkit" / "warehouse.duckdb"), read_only=True) as con:
        [(path,)] = con.execute("SELECT path FROM seen").fetchall()
    assert Path(path).is_relative_to(workspace.root / ".meshkit") and (Path(path) / "note.txt").exists()


def test_named_connections_from_vdk_subsections(workspace, make_job, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("VDK_OVERRIDDEN_SQLITE_FILE", str(tmp_path / "from-env.db"))
    config = f"""
        [vdk]
        db_default_type = sqlite

        [vdk_other]
        sqlite_file = {tmp_path / "other.db"}

        [vdk_lake]
        duckdb_database = {tmp_path / "lake.duckdb"}

        [vdk_overridden]
        sqlite_file = {tmp_path / "from-ini.db"}
    """
    make_job("j", {
        "config.ini": config,
        "10_other.sql": "[other]\nCREATE TABLE items AS SELECT 1 AS id, 'other' AS name",
        "20_lake.sql": "[LAKE]\nCREATE TABLE items AS SELECT 2 AS id, 'lake' AS name",
        "30_both.sql": "[other]\n[{second}]\nINSERT INTO items VALUES (3, 'both')",
        "40_python.py": """
            def run(job_input):
                job_input.execute_query("CREATE TABLE items AS SELECT 4 AS id, 'env' AS name", database="OVERRIDDEN")
                assert job_input.execute_query("SELECT count(*) FROM items", database="Other") == [(2,)]
        """,
    })  # fmt: skip
    result = cli("run", "j", "--arg", "second=lake")
    assert result.exit_code == 0, result.output
    assert sqlite_rows(tmp_path / "other.db") == [(1, "other"), (3, "both")]
    assert duckdb_rows(tmp_path / "lake.duckdb") == [(2, "lake"), (3, "both")]
    assert sqlite_rows(tmp_path / "from-env.db") == [(4, "env")]
    assert not (tmp_path / "from-ini.db").exists()


def test_sql_step_connection_line_keeps_line_numbers_in_errors(workspace, make_job, cli, tmp_path):
    make_job("j", {"config.ini": f"[vdk_other]\nsqlite_file = {tmp_path / 'o.db'}\n",
                   "10_bad.sql": "[other]\nSELECT 1;\nSELEKT 2;\n"})  # fmt: skip
    result = cli("run", "j")
    assert result.exit_code == 1
    assert "10_bad.sql:3" in result.output


def test_unknown_db_default_type_names_file_key_and_valid_values(workspace, make_job, cli):
    make_job("j", {"config.ini": "[vdk]\ndb_default_type = oracle\n", "10_q.sql": "SELECT 1"})
    result = cli("run", "j")
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "config.ini" in output and "db_default_type" in output and "oracle" in output
    assert "duckdb" in output and "sqlite" in output and "postgres" in output
    assert json.loads(cli("runs", "--json").stdout) == []  # stopped before the run starts


def test_a_url_as_db_default_type_keeps_its_case(workspace, make_job, cli, tmp_path):
    target = tmp_path / "Mixed" / "Case.db"
    target.parent.mkdir()
    make_job("j", {"config.ini": f"[vdk]\ndb_default_type = sqlite:///{target}\n", "10_load.py": COUNT_STEP})
    result = cli("run", "j")
    assert result.exit_code == 0, result.output
    assert sqlite_rows(target) == [(1, "a"), (2, "b")]
