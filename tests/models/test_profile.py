"""``meshkit profile``: statistics computed by DuckDB, kept in the catalog, and checks the data passes."""

from __future__ import annotations

import json

import yaml

from meshkit.catalog.catalog import Catalog
from meshkit.testing import plugin_workspace, run_cli


def _workspace(tmp_path):
    root = tmp_path / "ws"
    assert run_cli(["init", str(root)]).exit_code == 0
    (root / "data" / "people.csv").write_text(
        "id,code,age,city\n1,AB-12,31,Lisbon\n2,CD-34,45,\n3,EF-56,,Porto\n4,GH-78,62,Porto\n"
    )
    return root


def test_profile_pushes_statistics_down_and_keeps_them(tmp_path):
    root = _workspace(tmp_path)
    shown = run_cli(["profile", "files/people.csv"], workspace=root)
    assert shown.exit_code == 0, shown.output
    assert "files/people.csv: 4 rows" in shown.stdout and "…" not in shown.stdout
    data = json.loads(run_cli(["profile", "files/people.csv", "--json"], workspace=root).stdout)
    columns = {c["name"]: c for c in data["columns"]}
    assert data["rows"] == 4
    assert columns["age"]["nulls"] == 1 and columns["age"]["min"] == 31 and columns["age"]["max"] == 62
    assert columns["age"]["quantiles"][2] == 45  # the median
    assert columns["city"]["null_percent"] == 25.0 and columns["city"]["top_values"][0] == "Porto"
    assert columns["code"]["patterns"] == ["aa-99"]
    mk = plugin_workspace(root)
    try:
        kept = Catalog(mk).profile("files/people.csv")
        assert kept["rows"] == 4 and [c["name"] for c in kept["columns"]] == ["id", "code", "age", "city"]
    finally:
        mk.close()


def test_suggested_checks_pass_on_the_data_and_fail_on_worse_data(tmp_path):
    root = _workspace(tmp_path)
    suggested = run_cli(["profile", "files/people.csv", "--suggest-checks"], workspace=root)
    assert suggested.exit_code == 0, suggested.output
    block = yaml.safe_load((root / "checks" / "people.csv.yaml").read_text())
    assert block["dataset"] == "files/people.csv"
    kinds = {(c["type"], c.get("column")) for c in block["checks"]}
    assert {
        ("regex", "code"),
        ("numeric_range", "age"),
        ("duplicate_percent", "id"),
        ("row_count", None),
    } <= kinds
    checked = run_cli(["check", "people.csv"], workspace=root)
    assert checked.exit_code == 0, checked.output
    with (root / "data" / "people.csv").open("a") as f:  # a bad code and an age out of range
        f.write("5,XYZ,130,Faro\n")
    assert run_cli(["check", "people.csv"], workspace=root).exit_code == 1
    again = run_cli(["profile", "files/people.csv", "--suggest-checks"], workspace=root)
    assert again.exit_code == 2 and "exists already" in again.stderr
