-- Stock of the day per branch and ingredient. Consumption comes from the orders domain's order
-- lines times the recipes' grams; stock moves (opening counts, deliveries, waste) from the shops.
-- Opening counts are the stock before the first day.
CREATE OR REPLACE TABLE stage_stock_day AS
WITH
  consumed AS (
    SELECT o.branch_id, ri.ingredient_id, o.order_date AS day, SUM(l.quantity * ri.grams) AS grams
    FROM order_lines AS l
    JOIN orders AS o ON o.order_id = l.order_id
    JOIN recipe_ingredients AS ri ON ri.recipe_id = l.recipe_id
    WHERE o.status = 'completed' AND o.order_date <= DATE '{day}'
    GROUP BY ALL
  ),
  moved AS (
    SELECT branch_id, ingredient_id, CAST(moved_at AS DATE) AS day,
           SUM(quantity_g) FILTER (WHERE kind = 'opening') AS counted,
           SUM(quantity_g) FILTER (WHERE kind = 'delivery') AS received,
           SUM(quantity_g) FILTER (WHERE kind = 'waste') AS wasted
    FROM inventory_movements
    WHERE CAST(moved_at AS DATE) <= DATE '{day}'
    GROUP BY ALL
  ),
  daily AS (
    SELECT branch_id, ingredient_id, day, COALESCE(m.counted, 0) AS counted, COALESCE(m.received, 0) AS received,
           COALESCE(m.wasted, 0) AS wasted, COALESCE(c.grams, 0) AS consumed
    FROM moved AS m FULL JOIN consumed AS c USING (branch_id, ingredient_id, day)
  ),
  balance AS (
    SELECT branch_id, ingredient_id,
           CAST(SUM(counted) + COALESCE(SUM(received - wasted - consumed) FILTER (WHERE day < DATE '{day}'), 0)
                AS BIGINT) AS before,
           CAST(SUM(received) FILTER (WHERE day = DATE '{day}') AS BIGINT) AS delivered,
           CAST(SUM(consumed) FILTER (WHERE day = DATE '{day}') AS BIGINT) AS consumed,
           CAST(SUM(wasted) FILTER (WHERE day = DATE '{day}') AS BIGINT) AS wasted
    FROM daily
    GROUP BY ALL
  )
SELECT
  DATE '{day}' AS snapshot_date,
  branch_id,
  ingredient_id,
  GREATEST(COALESCE(before, 0), 0) AS opening_g,
  COALESCE(delivered, 0) AS delivered_g,
  COALESCE(consumed, 0) AS consumed_g,
  COALESCE(wasted, 0) AS wasted_g,
  GREATEST(COALESCE(before, 0) + COALESCE(delivered, 0) - COALESCE(consumed, 0) - COALESCE(wasted, 0), 0) AS closing_g,
  GREATEST(COALESCE(consumed, 0) + COALESCE(wasted, 0) - COALESCE(before, 0) - COALESCE(delivered, 0), 0) AS shortage_g,
  ROUND(closing_g / NULLIF(consumed_g, 0), 2) AS days_of_cover,
  CASE WHEN closing_g < 0.5 * consumed_g THEN 'reorder' WHEN closing_g < consumed_g THEN 'low' ELSE 'ok' END AS status
FROM balance;

-- One row per branch and ingredient for the reorder status history (slowly changing, type 2).
CREATE OR REPLACE TABLE stage_reorder_status AS
SELECT CAST(branch_id AS VARCHAR) || '-' || CAST(ingredient_id AS VARCHAR) AS stock_key,
       branch_id, ingredient_id, status, days_of_cover, CAST(snapshot_date AS TIMESTAMP) AS updated_at
FROM stage_stock_day;
