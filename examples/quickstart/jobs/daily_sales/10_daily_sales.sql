-- Sales per branch and day, rebuilt for the day given as argument.
CREATE TABLE IF NOT EXISTS daily_sales (day DATE, branch VARCHAR, orders BIGINT, pizzas BIGINT, revenue DECIMAL(12, 2));
DELETE FROM daily_sales WHERE day = DATE '{day}';
INSERT INTO daily_sales
SELECT CAST(ordered_at AS DATE), branch, count(*), sum(quantity), sum(price)
FROM raw_orders
WHERE CAST(ordered_at AS DATE) = DATE '{day}'
GROUP BY ALL;
