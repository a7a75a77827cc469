"""Tests of the example plugin, written as a plugin author writes them: a few lines each."""

from meshkit.testing import run_cli


def test_hello_command(tmp_path):
    assert run_cli(["init", str(tmp_path)]).exit_code == 0
    result = run_cli(
        ["-c", "hello_greeting=Bonjour", "hello", "Ada"], workspace=tmp_path, plugins=["meshkit_hello"]
    )
    assert result.exit_code == 0, result.output
    assert f"Bonjour, Ada! (workspace {tmp_path.name})" in result.stdout


def test_csv_step_loads_a_table_between_sql_steps(tmp_path):
    run_cli(["init", str(tmp_path)])
    job = tmp_path / "jobs" / "load"
    job.mkdir(parents=True)
    (job / "10_customers.csv").write_text("id,name\n1,Ada\n2,Grace\n")
    (job / "20_report.sql").write_text("CREATE TABLE report AS SELECT count(*) AS n FROM customers;\n")
    result = run_cli(["run", "load"], workspace=tmp_path, plugins=["meshkit_hello"])
    assert result.exit_code == 0, result.output
    assert (
        "10_customers.csv" in result.stdout and "3 rows written" in result.stdout
    )  # 2 loaded, 1 by the SQL step


def test_a_broken_csv_fails_the_step_with_its_name(tmp_path):
    run_cli(["init", str(tmp_path)])
    job = tmp_path / "jobs" / "broken"
    job.mkdir(parents=True)
    (job / "10_bad.csv").write_text("id,name\n1,Ada,extra\n")
    result = run_cli(["run", "broken"], workspace=tmp_path, plugins=["meshkit_hello"])
    assert result.exit_code == 1
    assert "Cannot read 10_bad.csv" in result.stderr and "Traceback" not in result.output


def test_listed_by_meshkit_plugins(tmp_path):
    run_cli(["init", str(tmp_path)])
    result = run_cli(["plugins"], workspace=tmp_path, plugins=["meshkit_hello"])
    assert "meshkit_hello" in result.stdout and "register_step_types" in result.stdout
