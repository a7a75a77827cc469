-- Raw orders as they arrive from the shops.
CREATE TABLE IF NOT EXISTS raw_orders (
    order_id INTEGER, branch VARCHAR, pizza VARCHAR, quantity INTEGER, price DECIMAL(8, 2), ordered_at TIMESTAMP
);
DELETE FROM raw_orders WHERE CAST(ordered_at AS DATE) = DATE '{day}';
