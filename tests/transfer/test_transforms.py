"""Property tests of every transform: each one's DuckDB SQL path and Arrow path give the same rows."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshkit.core.errors import ConfigError
from meshkit.data.transforms import (
    DIGEST_ALGORITHMS,
    apply_transforms,
    build_transforms,
    column_tags,
    compile_select,
    decrypt,
    transform_reader,
)
from meshkit.data.transforms.masking import mask_formatted
from meshkit.engines.duckdb import DuckDBEngine

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.lists(
    st.none() | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30),
    min_size=1,
    max_size=20,
)
ints = st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20)
decimals = st.lists(
    st.none() | st.decimals(min_value=-(10**8), max_value=10**8, places=3), min_size=1, max_size=20
)
dates = st.lists(st.none() | st.dates(min_value=dt.date(1000, 1, 1)), min_size=1, max_size=20)
timestamps = st.lists(
    st.none() | st.datetimes(min_value=dt.datetime(1000, 1, 1), timezones=st.just(dt.UTC)),
    min_size=1,
    max_size=20,
)

COLUMN_TYPES = {
    "text": (texts, pa.string()),
    "int": (ints, pa.int64()),
    "decimal": (decimals, pa.decimal128(12, 3)),
    "date": (dates, pa.date32()),
    "timestamptz": (timestamps, pa.timestamp("us", "UTC")),
}


def table_of(values, arrow_type) -> pa.Table:
    return pa.table({"_i": pa.array(range(len(values)), pa.int64()), "v": pa.array(values, type=arrow_type)})


def both_paths(specs, table: pa.Table, **kw) -> tuple[list[dict], list[dict]]:
    """Rows from the SQL path and from the Arrow path (two batches), ordered by ``_i``."""
    chain = build_transforms(specs, **kw)
    with DuckDBEngine() as engine:
        engine.conn.register("src", table)
        sql = engine.query(compile_select(chain, "src", table.schema, engine)).read_all()
    half = max(table.num_rows // 2, 1)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=half))
    arrow = transform_reader(chain, reader).read_all()
    assert sql.schema.names == arrow.schema.names
    key = lambda row: row.get("_i", 0)  # noqa: E731
    return sorted(sql.to_pylist(), key=key), sorted(arrow.to_pylist(), key=key)


# ---------------------------------------------------------------------------- Digest


@pytest.mark.parametrize("algo", DIGEST_ALGORITHMS)
@FAST
@given(data=st.data())
def test_digest_paths_agree_and_are_stable(algo, data):
    kind = data.draw(st.sampled_from(sorted(COLUMN_TYPES)))
    strategy, arrow_type = COLUMN_TYPES[kind]
    table = table_of(data.draw(strategy), arrow_type)
    spec = [{"action": "Digest", "columns": ["v"], "options": {"algo": algo}}]
    sql, arrow = both_paths(spec, table)
    assert sql == arrow
    again, _ = both_paths(spec, table)
    assert again == sql
    for row, value in zip(sql, table.column("v").to_pylist(), strict=True):
        assert (row["v"] is None) == (value is None)


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=50))
@FAST
def test_digest_matches_the_reference_hash(text):
    spec = [{"action": "Digest", "columns": ["v"], "options": {"algo": "sha512"}}]
    sql, _ = both_paths(spec, table_of([text], pa.string()))
    assert sql[0]["v"] == hashlib.sha512(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- Redact


@FAST
@given(values=texts, keep=st.integers(0, 5))
def test_formatted_redact_keeps_length_and_shape(values, keep):
    options = {"mode": "formatted", **({"keepLast": str(keep)} if keep else {})}
    sql, arrow = both_paths(
        [{"action": "Redact", "columns": ["v"], "options": options}], table_of(values, pa.string())
    )
    assert sql == arrow
    for row, value in zip(sql, values, strict=True):
        if value is None:
            assert row["v"] is None
            continue
        assert len(row["v"]) == len(value)
        head = len(value) - keep if keep else len(value)
        assert not any(c.isdigit() and c != "9" for c in row["v"][: max(head, 0)] if c.isascii())
        if keep:
            assert row["v"].endswith(value[-keep:]) or len(value) <= keep and row["v"] == value


@FAST
@given(values=texts)
def test_random_redact_keeps_length_and_fixed_replaces(values):
    sql, arrow = both_paths(
        [{"action": "Redact", "columns": ["v"], "options": {"mode": "random"}}], table_of(values, pa.string())
    )
    for a, b, value in zip(sql, arrow, values, strict=True):
        assert (a["v"] is None) == (b["v"] is None) == (value is None)
        if value is not None:
            assert len(a["v"]) == len(b["v"]) == len(value)
            assert set(a["v"] + b["v"]) <= set("abcdefghijklmnopqrstuvwxyz")
    spec = [{"action": "Redact", "columns": ["v"], "options": {"mode": "fixed", "value": "gone"}}]
    sql, arrow = both_paths(spec, table_of(values, pa.string()))
    assert sql == arrow == [{"_i": i, "v": None if v is None else "gone"} for i, v in enumerate(values)]


@FAST
@given(values=texts, start=st.integers(0, 3))
def test_formatted_mask_matches_the_unicode_classes_on_slices_and_chunks(values, start):
    array = pa.array(values, pa.string()).slice(min(start, len(values)))
    reference = array
    for pattern, repl in ((r"\p{Nd}", "9"), (r"\p{Lu}", "X"), (r"[\p{Ll}\p{Lt}\p{Lm}\p{Lo}]", "x")):
        reference = pc.replace_substring_regex(reference, pattern, repl)
    assert mask_formatted(array).to_pylist() == reference.to_pylist()
    chunked = pa.chunked_array([array.slice(0, 1), array.slice(1)], pa.string())
    assert mask_formatted(chunked).to_pylist() == reference.to_pylist()


def test_formatted_redact_example():
    spec = [{"action": "Redact", "columns": ["v"], "options": {"mode": "formatted", "keepLast": "4"}}]
    sql, arrow = both_paths(spec, table_of(["Card 4111-1111-1111-1234", "ab"], pa.string()))
    assert [r["v"] for r in sql] == [r["v"] for r in arrow] == ["Xxxx 9999-9999-9999-1234", "ab"]


# ---------------------------------------------------------------------------- Sample


@FAST
@given(values=st.lists(st.integers(0, 10**6), min_size=1, max_size=200, unique=True), seed=st.integers(0, 1000),
       fraction=st.floats(0.01, 1.0))  # fmt: skip
def test_sample_is_reproducible_and_paths_agree(values, seed, fraction):
    spec = [{"action": "Sample", "columns": ["v"], "options": {"fraction": str(fraction), "seed": str(seed)}}]
    table = table_of(values, pa.int64())
    sql, arrow = both_paths(spec, table)
    assert sql == arrow
    shuffled = table.take(list(reversed(range(table.num_rows))))
    again, _ = both_paths(spec, shuffled)
    assert sorted(r["v"] for r in again) == sorted(r["v"] for r in sql)


def test_sample_keeps_about_the_fraction_and_depends_on_the_seed():
    table = table_of(list(range(4000)), pa.int64())
    runs = {}
    for seed in (1, 2):
        spec = [{"action": "Sample", "options": {"fraction": "0.25", "seed": str(seed)}}]
        sql, _ = both_paths(spec, table)
        runs[seed] = {r["_i"] for r in sql}
        assert 800 < len(runs[seed]) < 1200
    assert runs[1] != runs[2]


# ---------------------------------------------------------------------------- Encrypt


@settings(FAST, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), mode=st.sampled_from(["random", "deterministic"]))
def test_encrypt_round_trips_with_the_key(monkeypatch_env, data, mode):
    kind = data.draw(st.sampled_from(["text", "int", "decimal", "date"]))
    strategy, arrow_type = COLUMN_TYPES[kind]
    values = data.draw(strategy)
    table = table_of(values, arrow_type)
    spec = [{"action": "Encrypt", "columns": ["v"], "options": {"key": "env:MK_TEST_KEY", "mode": mode}}]
    sql, arrow = both_paths(spec, table)
    plain = [None if v is None else pa.array([v], arrow_type).cast(pa.string())[0].as_py() for v in values]
    for rows in (sql, arrow):
        assert [decrypt(r["v"], "k3y-for-tests", mode) for r in rows] == plain
    if mode == "deterministic":
        assert sql == arrow
    else:
        tokens = [r["v"] for r in sql if r["v"] is not None]
        assert len(set(tokens)) == len(tokens)


def test_encrypt_wrong_key_fails_and_literal_keys_are_refused(monkeypatch_env):
    chain = build_transforms([{"action": "Encrypt", "columns": ["v"], "options": {"key": "env:MK_TEST_KEY"}}])
    token = apply_transforms(chain, pa.record_batch({"v": ["secret"]})).column(0)[0].as_py()
    with pytest.raises(Exception, match="Cannot decrypt"):
        decrypt(token, "another key")
    with pytest.raises(ConfigError, match="must be a reference"):
        build_transforms([{"action": "Encrypt", "columns": ["v"], "options": {"key": "plain-key"}}])
    with pytest.raises(ConfigError, match="MK_UNSET_VAR"):
        build_transforms([{"action": "Encrypt", "columns": ["v"], "options": {"key": "env:MK_UNSET_VAR"}}])


@pytest.fixture
def monkeypatch_env():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MK_TEST_KEY", "k3y-for-tests")
        yield


# ---------------------------------------------------------------------------- Filter

FILTER_TABLE = pa.table({
    "_i": list(range(6)),
    "n": [1, 5, None, 10, -3, 7],
    "s": ["apple", "Banana", "cherry", None, "apricot", "date"],
    "d": pa.array([dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5, 6)], pa.date32()),
    "x": pa.array([decimal.Decimal(v) for v in ("1.5", "2.25", "0", "-1", "3", "4.75")], pa.decimal128(6, 2)),
})  # fmt: skip


@pytest.mark.parametrize("predicate", [
    "n > 3", "n >= 5 AND s LIKE 'B%'", "NOT (n IN (1, 7))", "n IS NULL OR s IS NULL", "n BETWEEN -3 AND 5",
    "d >= '2024-01-03'", "x < 2.5", "s ILIKE 'a%'", "n + 1 > 6", "NOT n <> 5", "n * 2 = -6",
    "length(s) > 5", "upper(s) = 'BANANA'", "coalesce(n, 0) = 0", "true", "n > 100",
])  # fmt: skip
def test_filter_paths_agree(predicate):
    sql, arrow = both_paths([{"action": "Filter", "options": {"predicate": predicate}}], FILTER_TABLE)
    assert sql == arrow
    with duckdb.connect() as conn:
        conn.register("t", FILTER_TABLE)
        expected = sorted(r[0] for r in conn.execute(f"SELECT _i FROM t WHERE {predicate}").fetchall())
    assert [r["_i"] for r in sql] == expected


@pytest.mark.parametrize(("predicate", "message"), [
    ("n >> ", "invalid predicate `n >>`"),
    ("n > 1; DROP TABLE t", "expected one expression"),
    ("n IN (SELECT 1)", "not allowed"),
    ("missing_col = 1", "unknown column(s) missing_col"),
    ("s + 1", "invalid predicate `s + 1`"),
    ("d > 'not a date'", "invalid predicate"),
])  # fmt: skip
def test_invalid_predicates_name_the_predicate(predicate, message):
    chain = None
    with pytest.raises(ConfigError) as info:
        chain = build_transforms([{"action": "Filter", "name": "keep", "options": {"predicate": predicate}}])
        compile_select(chain, "t", FILTER_TABLE.schema)
    assert message in str(info.value)
    assert "keep" in str(info.value)


# ---------------------------------------------------------------------------- shape and types


def test_remove_rename_cast_agree_and_tags_follow_renames():
    specs = [
        {"action": "Digest", "columns": ["s"], "options": {"algo": "murmur32"}},
        {"action": "Rename", "options": {"s": "s_hash", "x": "amount"}},
        {"action": "Cast", "columns": ["amount"], "options": {"type": "DOUBLE"}},
        {"action": "Cast", "columns": ["n"], "options": {"type": "VARCHAR"}},
        {"action": "RemoveColumn", "columns": ["d"]},
    ]
    sql, arrow = both_paths(specs, FILTER_TABLE)
    assert sql == arrow
    assert list(sql[0]) == ["_i", "n", "s_hash", "amount"]
    assert sql[0]["amount"] == 1.5 and sql[0]["n"] == "1"
    tags = column_tags(build_transforms(specs), FILTER_TABLE.schema)
    assert tags == {"s_hash": ["Digest(murmur32)", "Rename(from s)"], "amount": ["Rename(from x)", "Cast(DOUBLE)"],
                    "n": ["Cast(TEXT)"], "d": ["RemoveColumn (removed)"]}  # fmt: skip


@FAST
@given(values=st.lists(st.none() | st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20))
def test_cast_rounds_like_duckdb(values):
    spec = [{"action": "Cast", "columns": ["v"], "options": {"type": "DECIMAL(12, 2)"}}]
    sql, arrow = both_paths(spec, table_of(values, pa.float64()))
    assert sql == arrow


@pytest.mark.parametrize(("spec", "message"), [
    ({"action": "Digestt", "columns": ["n"]}, "Did you mean `Digest`"),
    ({"action": "Digest", "columns": ["n"], "options": {"algo": "sha3"}}, "unknown algo `sha3`"),
    ({"action": "Digest", "columns": ["nope"]}, "column(s) nope not found"),
    ({"action": "Digest"}, "needs `columns`"),
    ({"action": "Digest", "columns": ["n"], "options": {"salt": "x"}}, "unknown option(s) salt"),
    ({"action": "Redact", "columns": ["s"], "options": {"mode": "blur"}}, "unknown mode `blur`"),
    ({"action": "Cast", "columns": ["n"], "options": {"type": "NOT A TYPE("}}, "is not a type"),
    ({"action": "Sample", "options": {"fraction": "2"}}, "must be in (0, 1]"),
    ({"action": "Rename", "options": {"n": "s"}}, "two columns the name s"),
    ({"action": "RemoveColumn", "columns": ["_i", "n", "s", "d", "x"]}, "every column"),
])  # fmt: skip
def test_bad_transform_specs_fail_clearly(spec, message):
    with pytest.raises(ConfigError) as info:
        compile_select(build_transforms([spec]), "t", FILTER_TABLE.schema)
    assert message in str(info.value)


def test_float_columns_need_a_cast_for_text_transforms():
    with pytest.raises(ConfigError, match="Cast to VARCHAR"):
        compile_select(
            build_transforms([{"action": "Digest", "columns": ["v"]}]), "t", pa.schema([("v", pa.float64())])
        )


def test_module_doctest():
    import doctest

    import meshkit.data.transforms as transforms

    assert doctest.testmod(transforms).failed == 0
