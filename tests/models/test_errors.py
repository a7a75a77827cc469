"""Bad inputs give clear errors naming the file and line; cycles name their path."""

from __future__ import annotations

import pytest

from meshkit.models import BuildOptions, execute, open_project
from meshkit.models.exceptions import ModelCompileError, UnsupportedFeatureError


@pytest.mark.parametrize(
    ("files", "error", "where", "words"),
    [
        (
            {"models/a.sql": "select 1 as id\nunion all\nselect * from {{ ref('nope') }}"},
            ModelCompileError,
            "models/a.sql:3",
            "ref('nope')",
        ),
        (
            {"models/a.sql": "select 1\n{% if true %}\nselect 2"},
            ModelCompileError,
            "models/a.sql:",
            "Jinja syntax error",
        ),
        (
            {"models/a.sql": "select 1\nfrom x\nwhere {{ undefined_thing() }}"},
            ModelCompileError,
            "models/a.sql:3",
            "undefined_thing",
        ),
        (
            {"models/a.sql": "select 1\n{{ adapter.dispatch('x')() }}"},
            ModelCompileError,
            "models/a.sql:2",
            "No macro named `x` for dispatch",
        ),
        (
            {"models/a.py": "def model(dbt, session): pass"},
            UnsupportedFeatureError,
            "models/a.py",
            "Python models",
        ),
        (
            {"macros/m.sql": "{% materialization custom, default %}{% endmaterialization %}"},
            UnsupportedFeatureError,
            "macros/m.sql:1",
            "materializations",
        ),
        (
            {"models/s.yml": "version: 2\nmodels:\n  - name: a\n    columns: [name: x"},
            ModelCompileError,
            "models/s.yml:",
            "Invalid YAML",
        ),
        (
            {
                "models/a.sql": "select 1 as id",
                "models/s.yml": "version: 2\nmodels:\n  - name: a\n    data_tests: [{nope: {}}]",
            },
            ModelCompileError,
            "models/s.yml:3",
            "Unknown test `nope`",
        ),
    ],
)
def test_load_errors_name_file_and_line(make_project, files, error, where, words):
    mk, root = make_project(files)
    with pytest.raises(error) as info:
        open_project(mk, root)
    assert info.value.where.startswith(where), info.value.where
    assert words in info.value.message
    assert info.value.exit_code == 2


def test_cycle_names_the_path(make_project):
    mk, root = make_project({
        "models/a.sql": "select * from {{ ref('c') }}",
        "models/b.sql": "select * from {{ ref('a') }}",
        "models/c.sql": "select * from {{ ref('b') }}",
        "models/d.sql": "select 1",
    })  # fmt: skip
    with pytest.raises(
        ModelCompileError, match=r"Dependency cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"
    ):
        open_project(mk, root)


def test_sql_syntax_error_names_the_line_and_keeps_the_table(make_project, query):
    mk, root = make_project(
        {
            "models/base.sql": "select 1 as id",
            "models/t.sql": "{{ config(materialized='table') }}\nselect id from {{ ref('base') }}",
        }
    )
    execute(mk, open_project(mk, root), BuildOptions())
    (root / "models/t.sql").write_text(
        "{{ config(materialized='table') }}\nselect 2 as id\nfrom from {{ ref('base') }}"
    )
    report = execute(mk, open_project(mk, root), BuildOptions(select=["t"]))
    result = report.results[0]
    assert result.status == "error"
    assert "models/t.sql:3" in result.message and "SQL syntax error" in result.message
    assert query(mk, root, "select * from t") == [(1,)]
    # plain SQL (no ref) is parsed with sqlglot at load to find its inputs: the error comes at once
    (root / "models/t.sql").write_text("select 2 as id\nfrom base\nwhere")
    with pytest.raises(ModelCompileError) as info:
        open_project(mk, root)
    assert info.value.where.startswith("models/t.sql:") and "SQL syntax error" in info.value.message
