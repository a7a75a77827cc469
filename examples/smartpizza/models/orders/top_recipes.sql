-- The recipes people order most, per day, with their rank.
{{ config(materialized='table') }}

select
    l.order_date,
    r.name as recipe,
    r.category,
    cast(sum(l.quantity) as bigint) as pizzas,
    sum(l.amount) as revenue,
    rank() over (partition by l.order_date order by sum(l.quantity) desc) as rank
from {{ source('orders', 'order_lines') }} as l
join {{ source('orders', 'orders') }} as o on o.order_id = l.order_id
join {{ source('supply', 'recipes') }} as r on r.recipe_id = l.recipe_id
where o.status = 'completed'
group by l.order_date, r.name, r.category
