"""The integration tests of four real dbt packages (dbt-utils, dbt-date, dbt-expectations,
dbt-audit-helper), each a dbt project with the package as a local package and seeds of expected
results, built by meshkit on DuckDB; their tests run as dbt tests.

The packages come from ``../shared/fixtures/dbt-packages/``; without them the tests skip with the
reason (unless MESHKIT_REQUIRE_SERVICES=1). Where a package's own suite fails on DuckDB under
dbt-core + dbt-duckdb 1.10 as well, the same nodes are expected to fail here, and nothing else.
"""

from __future__ import annotations

import shutil

import pytest

from meshkit.core.context import Meshkit
from meshkit.core.workspace import Workspace
from meshkit.models import BuildOptions, execute, open_project

PROFILE = "integration_tests:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n      path: suite.duckdb\n      threads: 2\n"

#: package -> (its dependencies copied into dbt_packages/, the nodes dbt-duckdb also fails, total nodes)
SUITES = {
    # dbt-duckdb fails these too, and meshkit cannot pass them without changing DuckDB's types: the
    # seeds' `float` columns are DuckDB's 4-byte FLOAT (double precision elsewhere), so 100000.0 cast to
    # numeric is 99999.997952 (width_bucket) and values differing in the 7th decimal load equal.
    # (dbt-duckdb also fails date_spine over string literals and the relation lookups reading
    # <database>.information_schema; meshkit builds both.)
    "dbt-utils": ({}, {"assert_equal_test_width_bucket_actual__expected",
                       "dbt_utils_equality_data_test_equality_floats_a_ref_data_test_equality_floats_b___8"}, 237),
    "dbt-date": ({}, set(), 73),
    "dbt-expectations": ({"dbt_date": "dbt-date"}, set(), 169),
    # dbt-duckdb fails these too: struct macros and quick_are_queries_identical have no duckdb
    # version, and count(distinct a, b) is not DuckDB SQL (unit tests are named by their model).
    "dbt-audit-helper": ({"dbt_utils": "dbt-utils"}, {"unit_test_struct_model_a", "unit_test_struct_model_b",
                         "compare_and_classify_query_results", "unit_compare_classify", "unit_quick_are_queries_identical"}, 108),
}  # fmt: skip
#: The nodes of each suite that pass at least (dbt-duckdb 1.10: dbt-utils 226, dbt-audit-helper 82).
PASSING = {"dbt-utils": 235, "dbt-date": 73, "dbt-expectations": 169, "dbt-audit-helper": 82}
#: Tests over the suites' ``rand()`` data: a standard-deviation bound over random values fails now
#: and then, under dbt-duckdb too, so their outcome is not compared.
RANDOM_DATA = ("dbt_expectations_expect_column_values_to_be_within_n_stdevs",)


@pytest.mark.parametrize("package", sorted(SUITES))
def test_package_integration_suite(tmp_path, package, monkeypatch, shared_fixtures):
    fixtures = shared_fixtures / "dbt-packages"
    dependencies, known_failures, total = SUITES[package]
    shutil.copytree(
        fixtures / package, tmp_path / package, ignore=shutil.ignore_patterns("target", "dbt_packages")
    )
    root = tmp_path / package / "integration_tests"
    (root / "profiles.yml").write_text(PROFILE)
    for name, source in dependencies.items():
        shutil.copytree(fixtures / source, root / "dbt_packages" / name)
    monkeypatch.setenv("DBT_PROFILES_DIR", str(root))
    with Meshkit(Workspace(root=root), load_entrypoints=False) as mk:
        report = execute(mk, open_project(mk, root), BuildOptions(threads=2))
    failed = {r.unique_id.split(".")[2] for r in report.results if r.status in ("error", "fail")}
    failed = {name for name in failed if not name.startswith(RANDOM_DATA)}
    assert failed == known_failures, [
        (r.unique_id, r.message) for r in report.results if r.status in ("error", "fail")
    ]
    assert len(report.results) == total
    passed = [r for r in report.results if r.status in ("success", "pass", "warn")]
    print(f"{package}: {len(passed)} of {total} nodes pass")
    assert len(passed) >= PASSING[package]
