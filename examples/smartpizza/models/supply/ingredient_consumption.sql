-- Ingredients used per day across all branches, in kilograms and cost.
{{ config(materialized='table') }}

select
    s.snapshot_date,
    i.name as ingredient,
    round(sum(s.consumed_g) / 1000.0, 1) as consumed_kg,
    round(sum(s.wasted_g) / 1000.0, 1) as wasted_kg,
    round(sum(s.consumed_g) / 1000.0 * any_value(i.unit_cost_per_kg), 2) as cost,
    count(*) filter (where s.status <> 'ok') as branches_running_low
from {{ source('supply', 'stock_daily') }} as s
join {{ source('supply', 'ingredients') }} as i on i.ingredient_id = s.ingredient_id
group by all
