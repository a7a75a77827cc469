{{ config(materialized='incremental', unique_key='order_id', incremental_strategy='merge') }}
select
    o.order_id,
    o.customer_id,
    o.order_date,
    o.status,
    s.status_rank,
    o.amount,
    o.updated_at
from {{ ref('stg_orders') }} o
left join {{ ref('order_statuses') }} s on s.status = o.status
{% if is_incremental() %}
where o.updated_at > (select max(updated_at) from {{ this }})
{% endif %}
