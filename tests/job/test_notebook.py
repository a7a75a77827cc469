"""Jupyter notebooks as job steps: the cells tagged ``vdk`` run in order, errors name the cell."""

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def cell(source, tagged=True, cell_id=None):
    made = new_code_cell(source, metadata={"tags": ["vdk"]} if tagged else {})
    if cell_id:
        made.id = cell_id
    return made


def write_notebook(path, cells):
    notebook = new_notebook(cells=cells)
    nbformat.validate(notebook)
    path.write_text(nbformat.writes(notebook))


def test_tagged_cells_run_in_order_with_job_input(workspace, make_job, cli):
    job = make_job("nb", {
        "10_setup.sql": "CREATE TABLE events (n INTEGER, label VARCHAR)",
        "30_check.py": """
            def run(job_input):
                rows = job_input.execute_query("SELECT n, label FROM events ORDER BY n")
                assert rows == [(1, "from sql"), (2, "from python")], rows
        """,
    })  # fmt: skip
    write_notebook(job / "20_explore.ipynb", [
        new_markdown_cell("# Exploration"),
        cell("raise RuntimeError('exploration only: never run')", tagged=False),
        cell("%%vdksql\nINSERT INTO events VALUES (1, 'from sql')"),
        cell("label = 'from ' + 'python'"),
        cell("job_input.send_object_for_ingestion({'n': 2, 'label': label}, destination_table='events')"),
        cell("print(job_input.get_name())", tagged=False),
    ])  # fmt: skip
    result = cli("run", "nb")
    assert result.exit_code == 0, result.output
    record = json.loads(cli("runs", "--json").stdout)[0]
    assert record["status"] == "succeeded"
    shown = cli("runs", "show", record["id"]).output
    assert "20_explore.ipynb" in shown


def test_a_failing_cell_is_named_with_its_line(workspace, make_job, cli):
    job = make_job("nb", {})
    write_notebook(job / "10_nb.ipynb", [
        cell("x = 1", cell_id="first"),
        cell("y = {}\nz = y['missing']", cell_id="second"),
        cell("raise AssertionError('not reached')"),
    ])  # fmt: skip
    result = cli("run", "nb")
    assert result.exit_code == 1
    output = result.output
    assert "10_nb.ipynb" in output and "cell 2 (id second)" in output
    assert "line 2" in output and "z = y['missing']" in output and "KeyError" in output
    assert "not reached" not in output


def test_a_syntax_error_and_a_sql_error_name_the_cell(workspace, make_job, cli):
    job = make_job("syntax", {})
    write_notebook(job / "10_nb.ipynb", [cell("ok = True"), cell("def broken(:\n    pass")])
    result = cli("run", "syntax")
    assert result.exit_code == 1
    assert "cell 2" in result.output and "SyntaxError" in result.output
    job = make_job("sql", {})
    write_notebook(job / "10_nb.ipynb", [cell("%%vdksql\nSELECT 1;\nSELEKT 2")])
    result = cli("run", "sql")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "10_nb.ipynb cell 1 (id " in output and "), line 3: " in output  # the cell's line 3: SELEKT 2


def test_a_notebook_that_is_not_json_is_named(workspace, make_job, cli):
    make_job("bad", {"10_nb.ipynb": "{not json"})
    result = cli("run", "bad")
    assert result.exit_code == 1
    assert "10_nb.ipynb" in result.output and "Cannot read notebook" in result.output
