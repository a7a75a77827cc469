"""The SmartPizza generator: same seed, same data; volumes grow with the scale; both targets work."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow.compute as pc
import pytest

from meshkit.core.errors import ConfigError
from meshkit.data.stores.sqlite import SQLiteStore
from meshkit.demo.generate import SmartPizza, Volumes, write_demo_data


@pytest.mark.parametrize(("scale", "branches", "customers", "pizzas"), [
    (0.01, 3, 400, 500),
    (1, 200, 40_000, 50_000),
    (100, 20_000, 4_000_000, 5_000_000),  # one day of the seed's volume
])  # fmt: skip
def test_volumes_per_scale(scale, branches, customers, pizzas):
    volumes = Volumes.for_scale(scale)
    assert (volumes.branches, volumes.customers, volumes.pizzas_per_day) == (branches, customers, pizzas)


@pytest.mark.parametrize("scale", [0, -1])
def test_scale_must_be_positive(scale):
    with pytest.raises(ConfigError, match="positive"):
        Volumes.for_scale(scale)


def tables(seed: int, scale: float = 0.02):
    pizza = SmartPizza(Volumes.for_scale(scale, days=2), seed)
    return {**dict(pizza.operational_tables()), **{f"orders_{d}": pizza.orders(d)[0] for d in range(2)},
            **{f"deliveries_{d}": pizza.orders(d)[1] for d in range(2)}}  # fmt: skip


def test_same_seed_gives_the_same_data_and_another_seed_other_data():
    first, again, other = tables(7), tables(7), tables(8)
    assert first.keys() == again.keys()
    for name in first:
        assert first[name].equals(again[name]), name
    assert not first["customers"].equals(other["customers"])
    assert not first["orders_0"].equals(other["orders_0"])


def test_generated_data_is_consistent():
    volumes = Volumes.for_scale(0.05, days=1)
    pizza = SmartPizza(volumes, 3)
    orders, deliveries = pizza.orders(0)
    lines = pc.list_flatten(orders["lines"]).combine_chunks()
    assert pc.sum(lines.field("quantity")).as_py() == volumes.pizzas_per_day  # exactly the day's pizzas
    assert pc.count_distinct(orders["order_id"]).as_py() == orders.num_rows
    totals = [sum(line["amount"] for line in order) for order in orders["lines"].to_pylist()]
    assert totals == orders["total_amount"].to_pylist()
    assert set(orders["channel"].to_pylist()) == {"app", "web", "phone", "walk_in"}
    assert orders["customer_id"].null_count > 0  # anonymous walk-ins
    assert set(deliveries["event"].to_pylist()) == {"placed", "baked", "dispatched", "delivered"}
    delivered = set(orders.filter(pc.and_(pc.equal(orders["fulfilment"], "delivery"),
                                          pc.equal(orders["status"], "completed")))["order_id"].to_pylist())  # fmt: skip
    assert set(deliveries["order_id"].to_pylist()) == delivered
    customers, history = pizza.customer_tables()
    assert customers.num_rows == volumes.customers
    assert history.num_rows > customers.num_rows  # some customers changed during the days
    assert all("@" in e for e in customers["email"].to_pylist()[:100])


def test_write_to_sqlite_and_files(tmp_path):
    result = write_demo_data(tmp_path, scale=0.02, days=2, seed=5, start=dt.date(2025, 3, 1))
    store = SQLiteStore("ops", {"path": str(tmp_path / "operational.db")})
    try:
        assert set(store.list_assets()) >= {"branches", "customers", "customer_history", "recipes", "ingredients",
                                            "recipe_ingredients", "inventory_movements"}  # fmt: skip
        customers = store.read("customers").read_all()
        assert customers.num_rows == result.rows["customers"] == 800
        assert customers.schema.field("marketing_consent").type == "bool"
        assert str(customers.schema.field("created_at").type) == "timestamp[us]"
    finally:
        store.close()
    assert sorted(result.files) == ["raw/deliveries/delivery_events-2025-03-01.csv", "raw/deliveries/delivery_events-2025-03-02.csv",
                                    "raw/orders/orders-2025-03-01.jsonl", "raw/orders/orders-2025-03-02.jsonl"]  # fmt: skip
    first = json.loads((tmp_path / "raw/orders/orders-2025-03-01.jsonl").read_text().splitlines()[0])
    assert first["ordered_at"].startswith("2025-03-01") and first["lines"][0]["line_no"] == 1
    assert result.rows["pizzas"] == 2 * 1000
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["rows"] == result.rows and manifest["start"] == "2025-03-01"
    again = tmp_path / "again"
    write_demo_data(again, scale=0.02, days=2, seed=5, start=dt.date(2025, 3, 1))
    for name in result.files:
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes(), name


@pytest.mark.integration
def test_write_to_postgres(tmp_path, pg_dsn, pg_schema):
    from meshkit.data.stores.postgres import PostgreSQLStore

    result = write_demo_data(tmp_path, scale=0.01, days=1, target=pg_dsn, schema=pg_schema)
    store = PostgreSQLStore("ops", {"dsn": pg_dsn})
    try:
        customers = store.read(f"{pg_schema}.customers").read_all()
        assert customers.num_rows == result.rows["customers"] == 400
        movements = store.read(f"{pg_schema}.inventory_movements").read_all()
        assert movements.num_rows == result.rows["inventory_movements"]
    finally:
        store.close()
    assert not (tmp_path / "operational.db").exists()
