"""Generate a day of orders and send them for ingestion (VDK's API, Arrow underneath)."""

import datetime
import random
from decimal import Decimal

PIZZAS = {"margherita": Decimal("8.50"), "diavola": Decimal("10.00"), "quattro formaggi": Decimal("11.50")}
BRANCHES = ["sofia", "plovdiv", "varna"]


def run(job_input):
    day = datetime.date.fromisoformat(job_input.get_arguments()["day"])
    rng = random.Random(day.toordinal())
    start = datetime.datetime.combine(day, datetime.time(11))
    rows = []
    for order_id in range(1, 2001):
        pizza = rng.choice(list(PIZZAS))
        quantity = rng.randint(1, 4)
        at = start + datetime.timedelta(seconds=rng.randint(0, 11 * 3600))
        rows.append((order_id, rng.choice(BRANCHES), pizza, quantity, PIZZAS[pizza] * quantity, at))
    job_input.send_tabular_data_for_ingestion(
        rows,
        ["order_id", "branch", "pizza", "quantity", "price", "ordered_at"],
        destination_table="raw_orders",
    )
