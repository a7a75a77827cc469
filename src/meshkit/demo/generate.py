"""SmartPizza data: seeded, vectorised, scalable.

Scale 1 is a small city chain (200 branches, 40,000 customers, 50,000 pizzas a day); scale 100
is one day of the seed's volume (20,000 branches, 4 million customers, 5 million pizzas a day).
Every column is drawn with numpy and built with Arrow compute, never row by row in Python, and the
same seed always gives the same data.

The operational database (SQLite or PostgreSQL) receives the master data and the stock
movements: ``branches``, ``customers`` (current state, with PII), ``customer_history`` (every
version of a customer), ``recipes``, ``ingredients``, ``recipe_ingredients`` and
``inventory_movements``. The shops' raw exports are files: one JSON-lines file of orders (lines
nested) and one CSV of delivery events per day, under ``raw/orders/`` and ``raw/deliveries/``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from meshkit.core.errors import ConfigError
from meshkit.demo import reference as ref

#: Scale 100 is one day of the seed's volume: 5 million pizzas, 20,000 branches, 4 million customers.
PIZZAS_PER_SCALE = 50_000
BRANCHES_PER_SCALE = 200
CUSTOMERS_PER_SCALE = 40_000
DEFAULT_SEED = 2024
DEFAULT_START = dt.date(2026, 11, 20)
MONEY = pa.decimal128(10, 2)
_CENT = pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))
_DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Volumes:
    """How much data a scale means."""

    scale: float
    days: int
    branches: int
    customers: int
    pizzas_per_day: int

    @classmethod
    def for_scale(cls, scale: float, days: int = 2) -> Volumes:
        if not scale > 0:
            raise ConfigError(
                f"Scale must be positive, got {scale}.", hint="Use e.g. --scale 1 (or 0.1 for a quick look)."
            )
        if days < 1:
            raise ConfigError(f"Days must be at least 1, got {days}.", hint="Use e.g. --days 2.")
        return cls(scale, days, max(3, round(BRANCHES_PER_SCALE * scale)), max(50, round(CUSTOMERS_PER_SCALE * scale)),
                   max(20, round(PIZZAS_PER_SCALE * scale)))  # fmt: skip


@dataclass
class GenerateResult:
    """What ``write_demo_data`` wrote: row counts per table and file, and where."""

    volumes: Volumes
    seed: int
    start: dt.date
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.volumes.days)]

    def as_dict(self) -> dict:
        return {"volumes": asdict(self.volumes), "seed": self.seed, "start": self.start.isoformat(),
                "target": self.target, "rows": self.rows, "files": self.files}  # fmt: skip


def _money(cents: np.ndarray) -> pa.Array:
    return pc.multiply(pa.array(cents, pa.int64()).cast(pa.decimal128(19, 0)), _CENT).cast(MONEY)


def _pick(values: list, index: np.ndarray) -> pa.Array:
    return pa.array(values).take(pa.array(index))


def _text(numbers: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _timestamps(us: np.ndarray) -> pa.Array:
    """Timestamps to the second, as point-of-sale systems record them."""
    return pa.array(us.astype(np.int64) // 1_000_000 * 1_000_000, pa.timestamp("us"))


def _epoch_us(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * _DAY_US


class SmartPizza:
    """Draws the SmartPizza tables for one scale and seed; each table has its own random stream."""

    def __init__(self, volumes: Volumes, seed: int = DEFAULT_SEED, start: dt.date = DEFAULT_START):
        self.volumes = volumes
        self.seed = seed
        self.start = start
        rng = self._rng(0)
        n_cities = len(ref.CITIES)
        city_w = np.array([c[5] for c in ref.CITIES], float)
        self.branch_city = rng.choice(n_cities, size=volumes.branches, p=city_w / city_w.sum())
        weights = rng.lognormal(0.0, 0.5, volumes.branches)
        self.branch_weight = weights / weights.sum()
        self.home_branch = rng.choice(volumes.branches, size=volumes.customers, p=self.branch_weight)
        self.customer_order = rng.permutation(volumes.customers)
        pop = np.array([r[3] for r in ref.RECIPES], float)
        self.recipe_p = pop / pop.sum()
        names = [i[0] for i in ref.INGREDIENTS]
        self.grams = np.zeros((len(ref.RECIPES), len(names)))
        for r, recipe in enumerate(ref.RECIPES):
            for ingredient, grams in recipe[4].items():
                self.grams[r, names.index(ingredient)] = grams

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *stream])

    # ------------------------------------------------------------------ master data

    def branches(self) -> pa.Table:
        rng, n = self._rng(1), self.volumes.branches
        city = self.branch_city
        number = np.zeros(n, np.int64)
        for c in np.unique(city):  # the k-th branch of its city (one loop per city, not per row)
            number[city == c] = np.arange(1, int((city == c).sum()) + 1)
        lat = np.array([c[3] for c in ref.CITIES])[city] + rng.normal(0, 0.04, n)
        lon = np.array([c[4] for c in ref.CITIES])[city] + rng.normal(0, 0.04, n)
        opened = _epoch_us(dt.date(2012, 1, 1)) // _DAY_US + rng.integers(0, 13 * 365, n)
        city_names = _pick([c[0] for c in ref.CITIES], city)
        return pa.table({
            "branch_id": pa.array(np.arange(1, n + 1), pa.int64()),
            "name": _join("SmartPizza ", city_names, " #", pa.array(number).cast(pa.string())),
            "city": city_names,
            "country": _pick([c[1] for c in ref.CITIES], city),
            "latitude": np.round(lat, 5),
            "longitude": np.round(lon, 5),
            "ovens": pa.array(rng.integers(2, 7, n), pa.int32()),
            "opened_on": pa.array(opened.astype(np.int32), pa.date32()),
        })  # fmt: skip

    def _person(self, rng: np.random.Generator, n: int, city: np.ndarray) -> dict[str, pa.Array]:
        first = _pick(ref.FIRST_NAMES, rng.integers(0, len(ref.FIRST_NAMES), n))
        last = _pick(ref.LAST_NAMES, rng.integers(0, len(ref.LAST_NAMES), n))
        return {"first_name": first, "last_name": last, **self._contact(rng, n, city, first, last)}

    def _contact(self, rng, n, city, first, last) -> dict[str, pa.Array]:
        local = pc.utf8_lower(_join(first, ".", last, pa.array(rng.integers(1, 999, n)).cast(pa.string())))
        domain = _pick(ref.EMAIL_DOMAINS, rng.integers(0, len(ref.EMAIL_DOMAINS), n))
        return {
            "email": _join(local, "@", domain),
            "phone": _join(_pick([c[2] for c in ref.CITIES], city), " ", _text(rng.integers(0, 10**9, n), 9)),
            "street": _join(
                pa.array(rng.integers(1, 240, n)).cast(pa.string()),
                " ",
                _pick(ref.STREETS, rng.integers(0, len(ref.STREETS), n)),
            ),  # fmt: skip
            "postal_code": _text(rng.integers(0, 10**5, n), 5),
        }

    def customer_tables(self) -> tuple[pa.Table, pa.Table]:
        """``customers`` (current state) and ``customer_history`` (every version, oldest first)."""
        rng, n = self._rng(2), self.volumes.customers
        city = self.branch_city[self.home_branch]
        person = self._person(rng, n, city)
        consent = rng.random(n) < 0.42
        start_us = _epoch_us(self.start)
        created = _epoch_us(dt.date(2019, 1, 1)) + (
            rng.random(n) * (start_us - _epoch_us(dt.date(2019, 1, 1)))
        ).astype(np.int64)
        # Some customers change during the generated days: they move, change their e-mail, or their consent.
        changed = np.flatnonzero(rng.random(n) < 0.08)
        kind = rng.integers(0, 3, changed.size)
        changed_at = start_us + (rng.random(changed.size) * self.volumes.days * _DAY_US).astype(np.int64)
        fresh = self._contact(rng, n, city, person["first_name"], person["last_name"])
        after = dict(person)
        for column, kinds in (("street", 0), ("postal_code", 0), ("email", 1)):
            mask = np.zeros(n, bool)
            mask[changed[kind == kinds]] = True
            after[column] = pc.if_else(pa.array(mask), fresh[column], person[column])
        consent_after = consent.copy()
        consent_after[changed[kind == 2]] = ~consent[changed[kind == 2]]
        updated = created.copy()
        updated[changed] = changed_at
        common = {
            "customer_id": pa.array(np.arange(1, n + 1), pa.int64()),
            "city": _pick([c[0] for c in ref.CITIES], city),
            "country": _pick([c[1] for c in ref.CITIES], city),
            "home_branch_id": pa.array(self.home_branch + 1, pa.int64()),
        }
        columns = ["customer_id", "first_name", "last_name", "email", "phone", "street", "postal_code", "city",
                   "country", "marketing_consent", "home_branch_id"]  # fmt: skip
        current = pa.table({**common, **after, "marketing_consent": consent_after})
        current = current.select(columns).append_column("created_at", _timestamps(created))
        current = current.append_column("updated_at", _timestamps(updated))
        first = pa.table({**common, **person, "marketing_consent": consent}).select(columns)
        first = first.append_column("updated_at", _timestamps(created))
        later = current.take(pa.array(changed)).select([*columns, "updated_at"])
        return current, pa.concat_tables([first, later])

    def recipes(self) -> pa.Table:
        return pa.table({
            "recipe_id": pa.array(np.arange(1, len(ref.RECIPES) + 1), pa.int64()),
            "name": [r[0] for r in ref.RECIPES],
            "category": [r[1] for r in ref.RECIPES],
            "price": _money(np.array([r[2] for r in ref.RECIPES])),
        })  # fmt: skip

    def ingredients(self) -> pa.Table:
        return pa.table({
            "ingredient_id": pa.array(np.arange(1, len(ref.INGREDIENTS) + 1), pa.int64()),
            "name": [i[0] for i in ref.INGREDIENTS],
            "unit_cost_per_kg": _money(np.array([i[1] for i in ref.INGREDIENTS])),
            "perishable": [i[2] for i in ref.INGREDIENTS],
        })  # fmt: skip

    def recipe_ingredients(self) -> pa.Table:
        recipe, ingredient = np.nonzero(self.grams)
        return pa.table({
            "recipe_id": pa.array(recipe + 1, pa.int64()),
            "ingredient_id": pa.array(ingredient + 1, pa.int64()),
            "grams": pa.array(self.grams[recipe, ingredient].astype(np.int32), pa.int32()),
        })  # fmt: skip

    # ------------------------------------------------------------------ one day of orders

    def orders(self, day_index: int) -> tuple[pa.Table, pa.Table]:
        """The day's order documents (lines nested) and delivery events."""
        rng = self._rng(3, day_index)
        pizzas = self.volumes.pizzas_per_day
        # Line quantities until the day's pizzas are reached exactly, then lines grouped into orders.
        qty = rng.choice([1, 2, 3], size=int(pizzas / 1.18 * 1.1) + 10, p=[0.85, 0.12, 0.03])
        total = np.cumsum(qty)
        n_lines = int(np.searchsorted(total, pizzas)) + 1
        qty = qty[:n_lines]
        qty[-1] = pizzas - (total[n_lines - 2] if n_lines > 1 else 0)
        sizes = rng.choice([1, 2, 3, 4], size=n_lines, p=[0.55, 0.30, 0.12, 0.03])
        ends = np.cumsum(sizes)
        n_orders = int(np.searchsorted(ends, n_lines)) + 1
        sizes = sizes[:n_orders]
        sizes[-1] = n_lines - (ends[n_orders - 2] if n_orders > 1 else 0)
        # Order numbers start with the day (YYYYMMDD), so they are unique across days.
        day = self.start + dt.timedelta(days=day_index)
        first_id = int(day.strftime("%Y%m%d")) * 10**8 + 1
        order_id = np.arange(first_id, first_id + n_orders, dtype=np.int64)

        channel = rng.choice(len(ref.CHANNELS), size=n_orders, p=ref.CHANNEL_WEIGHTS)
        walk_in = channel == ref.CHANNELS.index("walk_in")
        anonymous = walk_in & (rng.random(n_orders) < 0.75)
        skew = (self.volumes.customers * rng.random(n_orders) ** 1.7).astype(np.int64)
        customer = self.customer_order[skew]
        own_branch = rng.random(n_orders) < 0.92
        branch = np.where(own_branch, self.home_branch[customer],
                          rng.choice(self.volumes.branches, size=n_orders, p=self.branch_weight))  # fmt: skip
        delivery = ~walk_in & (rng.random(n_orders) < 0.7)
        fulfilment = np.where(delivery, 0, np.where(walk_in, 2, 1))
        cancelled = rng.random(n_orders) < 0.03
        hour = np.where(
            rng.random(n_orders) < 0.45, rng.normal(12.75, 0.9, n_orders), rng.normal(19.5, 1.3, n_orders)
        )
        hour = np.clip(hour, 10.0, 23.5)
        ordered_at = _epoch_us(self.start) + day_index * _DAY_US + (hour * 3_600_000_000).astype(np.int64)

        recipe = rng.choice(len(ref.RECIPES), size=n_lines, p=self.recipe_p)
        price = np.array([r[2] for r in ref.RECIPES])[recipe]
        amount = price * qty
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        line_no = np.arange(n_lines) - np.repeat(starts, sizes) + 1
        lines = pa.StructArray.from_arrays(
            [pa.array(line_no, pa.int32()), pa.array(recipe + 1, pa.int64()), pa.array(qty, pa.int32()),
             _money(price), _money(amount)],
            names=["line_no", "recipe_id", "quantity", "unit_price", "amount"],
        )  # fmt: skip
        offsets = pa.array(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32))
        orders = pa.table({
            "order_id": order_id,
            "branch_id": pa.array(branch + 1, pa.int64()),
            "customer_id": pa.array(customer + 1, pa.int64(), mask=anonymous),
            "channel": _pick(ref.CHANNELS, channel),
            "fulfilment": _pick(["delivery", "pickup", "dine_in"], fulfilment),
            "status": _pick(["completed", "cancelled"], cancelled.astype(np.int64)),
            "ordered_at": _timestamps(ordered_at),
            "total_amount": _money(np.add.reduceat(amount, starts)),
            "lines": pa.ListArray.from_arrays(offsets, lines),
        })  # fmt: skip
        return orders, self._deliveries(rng, order_id[delivery & ~cancelled], branch[delivery & ~cancelled],
                                         ordered_at[delivery & ~cancelled])  # fmt: skip

    def _deliveries(self, rng, order_id, branch, ordered_at) -> pa.Table:
        n = order_id.size
        steps = np.stack(
            [np.zeros(n), rng.uniform(8, 16, n), rng.uniform(2, 7, n), rng.uniform(9, 35, n)], axis=1
        )
        at = ordered_at[:, None] + (np.cumsum(steps, axis=1) * 60_000_000).astype(np.int64)
        courier = (branch + 1) * 100 + rng.integers(1, 6, n)
        has_courier = np.tile([False, False, True, True], n)
        return pa.table({
            "order_id": np.repeat(order_id, 4),
            "branch_id": pa.array(np.repeat(branch + 1, 4), pa.int64()),
            "event": _pick(ref.DELIVERY_EVENTS, np.tile(np.arange(4), n)),
            "event_at": _timestamps(at.ravel()),
            "courier_id": pa.array(np.repeat(courier, 4), pa.int64(), mask=~has_courier),
        })  # fmt: skip

    # ------------------------------------------------------------------ stock

    def inventory_movements(self) -> pa.Table:
        """Opening stock counts, the morning deliveries and evening waste per branch and ingredient."""
        rng = self._rng(4)
        days = self.volumes.days
        grams_per_pizza = self.recipe_p @ self.grams  # expected grams of each ingredient in one pizza
        expected = np.outer(self.branch_weight * self.volumes.pizzas_per_day, grams_per_pizza)
        stocked = expected > 0
        perishable = np.array([i[2] for i in ref.INGREDIENTS])
        parts = [("opening", 0, 6, expected * rng.uniform(0.9, 2.2, expected.shape), stocked)]
        for d in range(days):
            missed = rng.random(expected.shape) < 0.05  # some deliveries do not come
            parts.append(
                ("delivery", d, 7, expected * rng.uniform(0.75, 1.35, expected.shape), stocked & ~missed)
            )
            waste = stocked & perishable[None, :] & (rng.random(expected.shape) < 0.3)
            parts.append(("waste", d, 23, expected * rng.uniform(0.01, 0.05, expected.shape), waste))
        tables = []
        for kind, day, hour, quantity, mask in parts:
            b, i = np.nonzero(mask)
            at = (
                _epoch_us(self.start)
                + day * _DAY_US
                + hour * 3_600_000_000
                + rng.integers(0, 3_600_000_000, b.size)
            )
            tables.append(pa.table({
                "branch_id": pa.array(b + 1, pa.int64()),
                "ingredient_id": pa.array(i + 1, pa.int64()),
                "kind": pa.array([kind] * b.size, pa.string()),
                "quantity_g": pa.array(np.maximum(1, np.round(quantity[b, i])).astype(np.int64)),
                "moved_at": _timestamps(at),
            }))  # fmt: skip
        table = pa.concat_tables(tables)
        return pa.table({"movement_id": pa.array(np.arange(1, table.num_rows + 1), pa.int64()),
                         **{name: table[name] for name in table.column_names}})  # fmt: skip

    def operational_tables(self) -> Iterator[tuple[str, pa.Table]]:
        """``(name, table)`` for every table of the operational database."""
        yield "branches", self.branches()
        customers, history = self.customer_tables()
        yield "customers", customers
        yield "customer_history", history
        yield "recipes", self.recipes()
        yield "ingredients", self.ingredients()
        yield "recipe_ingredients", self.recipe_ingredients()
        yield "inventory_movements", self.inventory_movements()


# ---------------------------------------------------------------------------- writing


def operational_store(target: str, out: Path):
    """The store behind ``--target``: ``sqlite`` (``OUT/operational.db``) or a SQLite/PostgreSQL URL."""
    from meshkit.data.stores.postgres import PostgreSQLStore
    from meshkit.data.stores.sqlite import SQLiteStore

    if target == "sqlite":
        return SQLiteStore("operational", {"path": str(out / "operational.db")})
    scheme = target.split("://", 1)[0].split("+", 1)[0].lower() if "://" in target else ""
    for cls in (SQLiteStore, PostgreSQLStore):
        if scheme in cls.url_schemes:
            return cls("operational", cls.from_url(target))
    raise ConfigError(f"Unsupported demo target `{target}`.",
                      hint="Use `sqlite`, a sqlite:///PATH URL or a postgresql://... URL.")  # fmt: skip


def write_json_lines(table: pa.Table, path: Path) -> None:
    """``table`` as JSON lines (nested columns as nested objects), written by DuckDB from Arrow."""
    from meshkit.engines.duckdb import DuckDBEngine

    with DuckDBEngine() as engine:
        engine.execute("SET threads = 1")  # NOTE: one thread keeps the row order, so files are reproducible
        engine.conn.register("rows", table)
        engine.execute(f"COPY rows TO '{path}' (FORMAT JSON)")


def write_demo_data(out: str | Path, *, scale: float = 1.0, days: int = 2, seed: int = DEFAULT_SEED,
                    start: dt.date = DEFAULT_START, target: str = "sqlite", schema: str | None = None,
                    progress: Callable[[str, int], None] | None = None) -> GenerateResult:  # fmt: skip
    """Generate SmartPizza data into the operational database and raw files under ``out``.

    ``progress(what, rows)`` is called after each table or file is written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    volumes = Volumes.for_scale(scale, days)
    pizza = SmartPizza(volumes, seed, start)
    result = GenerateResult(volumes, seed, start, target)
    store = operational_store(target, out)
    try:
        for name, table in pizza.operational_tables():
            store.write(f"{schema}.{name}" if schema else name, table, mode="overwrite")
            result.rows[name] = table.num_rows
            if progress:
                progress(name, table.num_rows)
    finally:
        store.close()
    for folder in ("orders", "deliveries"):
        (out / "raw" / folder).mkdir(parents=True, exist_ok=True)
    for d, day in enumerate(result.days):
        orders, deliveries = pizza.orders(d)
        order_file = out / "raw" / "orders" / f"orders-{day}.jsonl"
        write_json_lines(orders, order_file)
        delivery_file = out / "raw" / "deliveries" / f"delivery_events-{day}.csv"
        pacsv.write_csv(deliveries, delivery_file)
        for key, table, path in (
            ("orders", orders, order_file),
            ("delivery_events", deliveries, delivery_file),
        ):
            result.rows[key] = result.rows.get(key, 0) + table.num_rows
            result.files.append(str(path.relative_to(out)))
            if progress:
                progress(path.name, table.num_rows)
        lines = pc.list_value_length(orders["lines"])
        result.rows["order_lines"] = result.rows.get("order_lines", 0) + pc.sum(lines).as_py()
        quantities = pc.list_flatten(orders["lines"]).combine_chunks().field("quantity")
        result.rows["pizzas"] = result.rows.get("pizzas", 0) + pc.sum(quantities).as_py()
    (out / "manifest.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    return result
