"""The data job runtime, driven through ``meshkit run`` as a user would."""

import json

import duckdb

from meshkit.testing import plugin_workspace


def warehouse_rows(workspace, sql):
    con = duckdb.connect(str(workspace.root / ".meshkit" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_steps_run_in_alphanumeric_order_with_arguments(cli, workspace, make_job):
    make_job("order", {
        "20_second.py": """
            def run(job_input):
                job_input.execute_query("INSERT INTO seen VALUES ('20_second.py', '{who}')")
        """,
        "10_first.sql": "CREATE TABLE seen (step VARCHAR, who VARCHAR);\nINSERT INTO seen VALUES ('10_first.sql', '{who}');",
        "30_third.sql": "INSERT INTO seen VALUES ('30_third.sql', '{who}')",
        "notes.txt": "not a step",
    })  # fmt: skip
    result = cli("run", "order", "--arg", "who=ann")
    assert result.exit_code == 0, result.output
    assert warehouse_rows(workspace, "SELECT step, who FROM seen ORDER BY rowid") == [
        ("10_first.sql", "ann"), ("20_second.py", "ann"), ("30_third.sql", "ann")]  # fmt: skip


def test_substitution_precedence_arguments_then_execution_then_properties(cli, workspace, make_job):
    make_job("prec", {
        "10_set.py": """
            def run(job_input):
                job_input.set_all_properties({"a": "property", "b": "property", "c": "property"})
        """,
        "20_use.py": """
            def run(job_input):
                rows = job_input.execute_query("SELECT '{a}', '{b}', '{pa__job_name}'")
                job_input.send_object_for_ingestion({"row": list(rows[0])}, destination_table="out")
        """,
    })  # fmt: skip
    result = cli("run", "prec", "--arguments", json.dumps({"a": "argument"}))
    assert result.exit_code == 0, result.output
    assert warehouse_rows(workspace, "SELECT row FROM out") == [(["argument", "property", "prec"],)]


def test_skip_remaining_steps(cli, workspace, make_job):
    make_job("skip", {
        "10_a.py": "def run(job_input):\n    job_input.execute_query('CREATE TABLE made (x INT)')\n    job_input.skip_remaining_steps()\n",
        "20_b.sql": "CREATE TABLE never_made (x INT)",
    })  # fmt: skip
    result = cli("run", "skip")
    assert result.exit_code == 0, result.output
    assert warehouse_rows(workspace, "SELECT table_name FROM duckdb_tables()") == [("made",)]


def test_failing_python_step_shows_only_user_frames(cli, workspace, make_job):
    job = make_job("boom", {
        "10_ok.sql": "SELECT 1",
        "20_fail.py": """
            def helper(x):
                return 1 / x

            def run(job_input):
                helper(0)
        """,
        "30_never.sql": "CREATE TABLE never (x INT)",
    })  # fmt: skip
    result = cli("run", "boom")
    assert result.exit_code == 1
    assert f'File "{job / "20_fail.py"}", line 3, in helper' in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "meshkit/job" not in result.stderr and "site-packages" not in result.stderr
    runs = cli("runs", "--json")
    record = json.loads(runs.stdout)[0]
    assert record["status"] == "user_error"


def test_debug_shows_meshkit_traceback(cli, make_job):
    make_job("dbg", {"10_fail.py": "def run(job_input):\n    raise ValueError('bad')\n"})
    result = cli("--debug", "run", "dbg")
    assert result.exit_code == 1
    assert "meshkit" in result.stderr and "Traceback" in result.stderr


def test_failing_sql_step_names_file_and_line(cli, make_job):
    job = make_job("badsql", {"10_bad.sql": "SELECT 1;\n\nSELEC oops FROM nowhere;\n"})
    result = cli("run", "badsql")
    assert result.exit_code == 1
    assert f"{job / '10_bad.sql'}:3" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr


def test_python_step_without_run_function(cli, make_job):
    make_job("norun", {"10_x.py": "x = 1\n"})
    result = cli("run", "norun")
    assert result.exit_code == 1
    assert "defines no `run(job_input)` function" in result.stderr


def test_unknown_job_is_a_config_error(cli):
    result = cli("run", "nope")
    assert result.exit_code == 2
    assert "No job `nope` found" in result.stderr


def test_run_records_steps_rows_and_log(cli, workspace, make_job):
    make_job("rec", {
        "10_ingest.py": """
            import logging
            def run(job_input):
                logging.getLogger("user").info("sending rows")
                job_input.send_tabular_data_for_ingestion([(i, str(i)) for i in range(25)], ["id", "name"], destination_table="t")
        """,
    })  # fmt: skip
    assert cli("run", "rec").exit_code == 0
    record = json.loads(cli("runs", "--json").stdout)[0]
    shown = cli("runs", "show", record["id"], "--log")
    assert shown.exit_code == 0
    assert "10_ingest.py" in shown.stdout and "sending rows" in shown.stdout
    assert record["rows_written"] == 25


def test_vdk_job_runs_unchanged(workspace, make_job, cli):
    make_job("vdk-job", {
        "config.ini": """
            [owner]
            team = data-team

            [job]
            schedule_cron = 11 23 5 8 1

            [vdk]
            db_default_type = SQLITE
            some_vdk_only_key = 1
        """,
        "10_create.sql": "CREATE TABLE IF NOT EXISTS stocks (symbol TEXT, price REAL)",
        "20_python_step.py": """
            import logging
            from vdk.api.job_input import IJobInput

            log = logging.getLogger(__name__)

            def run(job_input: IJobInput):
                job_input.send_tabular_data_for_ingestion(
                    rows=[("AAA", 1.5), ("BBB", 2.5)], column_names=["symbol", "price"], destination_table="stocks")
                job_input.send_object_for_ingestion({"symbol": "CCC", "price": 3.5}, destination_table="stocks")
        """,
        "30_check.py": """
            def run(job_input):
                threshold = job_input.get_arguments()["min"]
                rows = job_input.execute_query("SELECT count(*) FROM stocks WHERE price > {min}")
                assert rows == [(2,)], rows
                assert job_input.get_name() == "vdk-job"
                assert "pa__execution_id" in job_input.get_execution_properties()
        """,
    })  # fmt: skip
    result = cli("run", "vdk-job", "--arg", "min=2")
    assert result.exit_code == 0, result.output
    import sqlite3

    con = sqlite3.connect(workspace.root / ".meshkit" / "warehouse.sqlite")
    assert con.execute("SELECT symbol, price FROM stocks ORDER BY symbol").fetchall() == [
        ("AAA", 1.5),
        ("BBB", 2.5),
        ("CCC", 3.5),
    ]
    record = json.loads(cli("runs", "--json").stdout)[0]
    assert record["status"] == "succeeded"


def test_managed_connection_works_with_pandas(make_job, cli):
    make_job("pd", {
        "10_make.sql": "CREATE TABLE n AS SELECT range AS i FROM range(5)",
        "20_read.py": """
            import pandas as pd

            def run(job_input):
                df = pd.read_sql("SELECT sum(i) AS s FROM n", job_input.get_managed_connection())
                assert int(df["s"][0]) == 10
                table = job_input.query("SELECT i FROM n ORDER BY i")
                assert table.column("i").to_pylist() == [0, 1, 2, 3, 4]
        """,
    })  # fmt: skip
    result = cli("run", "pd")
    assert result.exit_code == 0, result.output


def test_standalone_job_records_a_run(workspace, make_job):
    import meshkit

    job = make_job("nb", {"10_x.sql": "SELECT 1"})
    with meshkit.job(job, arguments={"k": "v"}) as job_input:
        assert job_input.get_arguments() == {"k": "v"}
        job_input.send_tabular_data_for_ingestion([(1,), (2,)], ["x"], destination_table="nb_out")
    mk = plugin_workspace(workspace.root)
    run = mk.runs.list(kind="job", name="nb")[0]
    assert run.status == "succeeded" and run.rows_written == 2
    mk.close()


def test_connection_hooks_see_every_operation(workspace, make_job):
    import meshkit
    from meshkit.job.runner import run_job

    seen = []

    class Audit:
        @meshkit.hookimpl
        def connection_before_operation(self, cursor):
            seen.append(cursor.operation)

        @meshkit.hookimpl
        def connection_validate_operation(self, operation):
            if "forbidden" in operation:
                raise meshkit.UserError("Queries touching `forbidden` are refused.")

    make_job("hooks", {"10_a.sql": "SELECT 1; SELECT 2", "20_b.sql": "SELECT 'forbidden'"})
    mk = plugin_workspace(workspace.root, [Audit()])
    result = run_job(mk, "hooks", console=False)
    assert result.status == "user_error" and "refused" in str(result.error)
    assert seen == ["SELECT 1", "SELECT 2"]
    mk.close()


def test_sql_step_with_explicit_transaction_is_atomic(cli, workspace, make_job):
    make_job("tx", {
        "10_make.sql": "CREATE TABLE acc (id INT PRIMARY KEY, v INT); INSERT INTO acc VALUES (1, 10);",
        "20_tx.sql": "BEGIN TRANSACTION;\nUPDATE acc SET v = 20 WHERE id = 1;\nINSERT INTO acc VALUES (1, 99);\nCOMMIT;",
    })  # fmt: skip
    result = cli("run", "tx")
    assert result.exit_code == 1
    assert warehouse_rows(workspace, "SELECT id, v FROM acc") == [(1, 10)]


def test_runs_record_table_lineage_of_their_sql(workspace, make_job):
    from meshkit.job.runner import run_job

    make_job("lin", {
        "10_raw.sql": "CREATE TABLE raw AS SELECT 1 AS id, 'a' AS v",
        "20_dim.sql": "CREATE TABLE dim AS SELECT 1 AS id, 'x' AS label",
        "30_join.sql": "CREATE TABLE wide AS WITH r AS (SELECT * FROM raw) SELECT r.id, v, label FROM r JOIN dim USING (id)",
        "40_read.py": """
            def run(job_input):
                rows = job_input.execute_query("SELECT id, v FROM raw")
                job_input.send_tabular_data_for_ingestion(rows, ["id", "v"], destination_table="copied")
        """,
    })  # fmt: skip
    mk = plugin_workspace(workspace.root)
    assert run_job(mk, "lin", console=False).ok
    lineage = mk.runs.list(name="lin")[0].lineage
    assert lineage.transformation == "sql"
    assert {(e.source, e.target) for e in lineage.tables} == {
        ("warehouse/raw", "warehouse/wide"), ("warehouse/dim", "warehouse/wide")}  # fmt: skip
    assert lineage.inputs == ["warehouse/raw"]
    assert set(lineage.outputs) == {"warehouse/raw", "warehouse/dim", "warehouse/wide", "warehouse/copied"}
    mk.close()


def test_rows_written_by_sql_statements_are_counted(cli, make_job):
    make_job(
        "count",
        {
            "10_make.sql": "CREATE TABLE c (x INT); INSERT INTO c SELECT range FROM range(7); UPDATE c SET x = 0 WHERE x < 2;"
        },
    )
    assert cli("run", "count").exit_code == 0
    record = json.loads(cli("runs", "--json").stdout)[0]
    assert record["rows_written"] == 9


def test_rows_written_are_net_of_deletes_and_count_templates_in_their_step(cli, make_job, workspace):
    make_job("reload", {
        "10_day.sql": "CREATE TABLE IF NOT EXISTS sales (day DATE, n INT);\n"
                      "-- reload the day\nDELETE FROM sales WHERE day = DATE '2026-01-01';\n"
                      "INSERT INTO sales SELECT DATE '2026-01-01', range FROM range(100);",
        "20_snapshot.py": "def run(job_input):\n"
                          "    job_input.execute_query('CREATE OR REPLACE VIEW sales_src AS SELECT * FROM sales')\n"
                          "    job_input.execute_template('periodic_snapshot', {'source_view': 'sales_src',\n"
                          "        'target_table': 'sales_snap', 'last_arrival_ts': 'day'})\n",
    })  # fmt: skip
    for _ in range(2):  # the second run deletes the day's 100 rows and writes them again: still 100 rows
        assert cli("run", "reload").exit_code == 0
        job, template = (
            json.loads(cli("runs", "--json", "--kind", kind).stdout)[0] for kind in ("job", "template")
        )
        assert template["rows_written"] == 100
        assert job["rows_written"] == 200
        shown = cli("runs", "show", job["id"]).stdout
        assert [line.split()[-1] for line in shown.splitlines()[1:3]] == ["100", "100"], shown
    assert warehouse_rows(workspace, "SELECT count(*) FROM sales_snap") == [(100,)]
