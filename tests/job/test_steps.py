import pytest

from meshkit.job.sqltext import split_statements, substitute


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select 1", [(1, "select 1")]),
        ("select 1;", [(1, "select 1")]),
        (
            "-- c\ncreate table a (x int);\n\ninsert into a values (1);",
            [(2, "create table a (x int)"), (4, "insert into a values (1)")],
        ),
        ("select ';' as s; select 2", [(1, "select ';' as s"), (1, "select 2")]),
        ("select '{\"a\": 1}' as j", [(1, "select '{\"a\": 1}' as j")]),
        (";;", []),
    ],
)
def test_split_statements(sql, expected):
    assert split_statements(sql) == expected


@pytest.mark.parametrize(
    ("sql", "values", "expected"),
    [
        ("select {x}", {"x": 5}, "select 5"),
        ("select {x}, {unknown}", {"x": "a"}, "select a, {unknown}"),
        ("select '{\"k\": 1}'", {"k": 2}, "select '{\"k\": 1}'"),
        ("where d = '{day}'", {"day": "2024-01-01"}, "where d = '2024-01-01'"),
    ],
)
def test_substitute(sql, values, expected):
    assert substitute(sql, values) == expected
