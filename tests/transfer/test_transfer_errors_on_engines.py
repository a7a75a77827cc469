"""A transfer failing the same way on DuckDB and on Spark ends with the same error class."""

from __future__ import annotations

import pytest
from transfer_helpers import ORDERS, spec_yaml, transfer

from meshkit.core.errors import UserError

BAD_CAST = "  transformation:\n  - {action: Cast, columns: [email], options: {type: INTEGER}}\n"


@pytest.mark.parametrize(
    ("source", "asset"),
    [
        ("lake", "orders.parquet"),
        ("lite", "orders"),
    ],  # Spark reads the Parquet file; SQLite's rows stream as Arrow
)
def test_a_bad_cast_ends_fatal_with_a_user_error_on_every_engine(open_mk, spark_engine, source, asset):
    mk = open_mk()
    mk.store(source).write(asset, ORDERS)
    destination = "lite" if source == "lake" else "lake"
    for engine in ("duckdb", spark_engine):
        spec = spec_yaml(f"bad-{engine}", source, asset, destination, f"o_{engine}.parquet",
                         transformation=BAD_CAST, extra=f"  engine: {engine}\n")  # fmt: skip
        result = transfer(mk, spec)
        assert result.status["phase"] == "Fatal", result.status["error"]
        assert isinstance(result.error, UserError), result.error
        assert result.status["attempts"] == 1
        assert "\tat " not in result.status["error"] and "Internal error" not in result.status["error"]
        assert not mk.store(destination).exists(f"o_{engine}.parquet")
