"""Print the day's sales, read as an Arrow table."""


def run(job_input):
    table = job_input.query(
        "SELECT branch, orders, pizzas, revenue FROM daily_sales WHERE day = DATE '{day}' ORDER BY branch"
    )
    for row in table.to_pylist():
        print(
            f"{row['branch']:>10}: {row['orders']:5d} orders, {row['pizzas']:5d} pizzas, {row['revenue']:>10} revenue"
        )
