"""Terminal output fits 80 columns, says an error once, and exits with the error's class."""

from __future__ import annotations

import json

import pytest

from meshkit.testing import run_cli

WIDTH = 80


@pytest.fixture
def scaffolded(tmp_path):
    """A workspace made by `meshkit init` (with its example CSV in store `files`) and a runner on it."""
    root = tmp_path / "ws"
    assert run_cli(["init", str(root)]).exit_code == 0
    return root, lambda *args: run_cli(list(args), workspace=root)


def _fits(output: str) -> None:
    assert "…" not in output, output
    assert all(len(line) <= WIDTH for line in output.splitlines()), output


def _transfer(root, name: str, store: str, asset: str) -> str:
    path = root / "transfers" / f"{name}.yaml"
    path.write_text(f"apiVersion: meshkit.io/v1\nkind: BatchTransfer\nmetadata: {{name: {name}}}\nspec:\n"
                    f"  source: {{store: {store}, asset: {asset}}}\n"
                    f"  destination: {{store: warehouse, asset: {name}, mode: overwrite}}\n")  # fmt: skip
    return str(path)


def test_transfer_mistakes_are_config_errors_said_once(scaffolded):
    root, cli = scaffolded
    missing = cli("transfer", "apply", _transfer(root, "missing", "files", "nope.csv"))
    assert missing.exit_code == 2, missing.output
    said = missing.stdout + missing.stderr
    assert said.count("`nope.csv` does not exist") == 1, said
    assert "`meshkit store assets files`" in said
    listed = cli("store", "assets", "files")  # the command the hint names exists and lists the files
    assert listed.exit_code == 0 and "cities.csv" in listed.stdout.split(), listed.output

    unknown = cli("transfer", "apply", _transfer(root, "unknown", "nostore", "x"))
    assert unknown.exit_code == 2 and (unknown.stdout + unknown.stderr).count("Unknown store `nostore`") == 1
    assert "Known stores:" in unknown.stderr
    assert cli("transfer", "status", "never-ran").exit_code == 2
    assert cli("store", "assets", "nostore").exit_code == 2


def test_runs_and_transfer_tables_fit_80_columns(scaffolded):
    root, cli = scaffolded
    long_name = "cities_copied_into_the_warehouse_with_a_long_name"
    assert cli("transfer", "apply", _transfer(root, long_name, "files", "cities.csv")).exit_code == 0
    cli("transfer", "apply", _transfer(root, "broken_transfer_with_a_long_name", "files", "absent.csv"))
    runs = cli("runs")
    _fits(runs.stdout)
    lines = runs.stdout.splitlines()
    assert lines[0].split() == ["id", "kind", "status", "started", "took", "rows"]
    first_column = "".join(
        line.split()[0] for line in lines[1:6]
    )  # a long id wraps onto the next line, whole
    for run in json.loads(cli("runs", "--json").stdout):
        assert run["id"] in first_column, runs.stdout
    assert "`absent.csv` does not exist" in " ".join(
        runs.stdout.split()
    )  # the error follows the table, whole
    for args in (("transfer", "list"), ("transfer", "status", long_name), ("catalog", "show", long_name),
                 ("config",), ("store", "list")):  # fmt: skip
        result = cli(*args)
        assert result.exit_code == 0, result.output
        _fits(result.stdout)
