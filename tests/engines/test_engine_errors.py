"""Each engine classifies its own errors; the same failure gets the same meshkit error class on every engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshkit.core.errors import UserError
from meshkit.data.transfer.runner import classify

TRANSFER = Path(__file__).resolve().parents[2] / "src" / "meshkit" / "data" / "transfer"


def test_the_transfer_modules_do_not_name_duckdb():
    for module in TRANSFER.glob("*.py"):
        text = module.read_text()
        assert "DuckDBEngine" not in text and "engines.duckdb" not in text, module.name


def _raised(run) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the engine's own exception class
        run()
    return caught.value


def test_a_bad_cast_is_a_data_error_on_duckdb_and_on_spark(spark_engine, mk):
    from meshkit.engines import open_engine

    sql = "SELECT CAST('not a number' AS INT) AS x"
    with open_engine(mk, "duckdb") as duck, open_engine(mk, spark_engine) as spark:
        errors = {
            duck: _raised(lambda: duck.fetch(sql)),
            spark: _raised(lambda: spark.session.sql(sql).collect()),
        }
        for engine, exc in errors.items():
            assert engine.error_kind(exc) == "data", (engine.type, exc)
            assert isinstance(classify(exc, str, engine), UserError)
            other = duck if engine is spark else spark
            assert other.error_kind(exc) is None  # not an exception of the other engine's library
        assert isinstance(spark.error(errors[spark]), UserError)
        assert duck.error_kind(ValueError("x")) is None and spark.error_kind(ValueError("x")) is None
