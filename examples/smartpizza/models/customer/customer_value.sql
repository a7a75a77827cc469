-- Orders and spend per customer (orders domain) next to consent and city (customer domain).
{{ config(materialized='table') }}

select
    c.customer_id,
    c.city,
    c.country,
    c.marketing_consent,
    count(o.order_id) as orders,
    coalesce(sum(o.total_amount), 0) as spend,
    max(o.ordered_at) as last_order_at
from {{ ref('customers_current') }} as c
left join {{ source('orders', 'orders') }} as o on o.customer_id = c.customer_id and o.status = 'completed'
group by all
