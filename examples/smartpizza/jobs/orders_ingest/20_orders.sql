-- Orders, order lines and delivery events of the day, typed and flattened; a re-run replaces the day.
CREATE TABLE IF NOT EXISTS orders (
    order_id BIGINT, order_date DATE, ordered_at TIMESTAMP, branch_id BIGINT, customer_id BIGINT,
    channel VARCHAR, fulfilment VARCHAR, status VARCHAR, total_amount DECIMAL(10, 2)
);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id BIGINT, order_date DATE, line_no INTEGER, recipe_id BIGINT, quantity INTEGER,
    unit_price DECIMAL(10, 2), amount DECIMAL(10, 2)
);
CREATE TABLE IF NOT EXISTS delivery_events (
    order_id BIGINT, order_date DATE, branch_id BIGINT, event VARCHAR, event_at TIMESTAMP, courier_id BIGINT
);

DELETE FROM orders WHERE order_date = DATE '{day}';
INSERT INTO orders
SELECT order_id, CAST(ordered_at AS DATE), CAST(ordered_at AS TIMESTAMP), branch_id, customer_id,
       channel, fulfilment, status, CAST(total_amount AS DECIMAL(10, 2))
FROM stage_orders;

DELETE FROM order_lines WHERE order_date = DATE '{day}';
INSERT INTO order_lines
SELECT order_id, order_date, line.line_no, line.recipe_id, line.quantity,
       CAST(line.unit_price AS DECIMAL(10, 2)), CAST(line.amount AS DECIMAL(10, 2))
FROM (SELECT order_id, CAST(ordered_at AS DATE) AS order_date, unnest(lines) AS line FROM stage_orders);

DELETE FROM delivery_events WHERE order_date = DATE '{day}';
INSERT INTO delivery_events
SELECT order_id, DATE '{day}', branch_id, event, CAST(event_at AS TIMESTAMP), courier_id
FROM stage_delivery_events;
