-- Sales per branch and day: orders, pizzas, revenue, and how fast deliveries arrived.
{{ config(materialized='table') }}

with lines as (
    select order_id, cast(sum(quantity) as bigint) as pizzas
    from {{ source('orders', 'order_lines') }}
    group by order_id
),
deliveries as (
    select order_id,
           date_diff('second', min(event_at) filter (where event = 'placed'),
                     max(event_at) filter (where event = 'delivered')) / 60.0 as minutes
    from {{ source('orders', 'delivery_events') }}
    group by order_id
)
select
    o.order_date,
    o.branch_id,
    b.city,
    count(*) as orders,
    cast(sum(l.pizzas) as bigint) as pizzas,
    sum(o.total_amount) as revenue,
    round(sum(o.total_amount) / count(*), 2) as avg_order_value,
    round(avg(d.minutes), 1) as avg_delivery_minutes
from {{ source('orders', 'orders') }} as o
join lines as l on l.order_id = o.order_id
left join deliveries as d on d.order_id = o.order_id
left join {{ source('supply', 'branches') }} as b on b.branch_id = o.branch_id
where o.status = 'completed'
group by all
