-- Revenue in daily_sales equals the completed orders' totals: nothing lost or counted twice.
select s.order_date, s.revenue, o.revenue
from (select order_date, sum(revenue) as revenue from {{ ref('daily_sales') }} group by all) as s
join (select order_date, sum(total_amount) as revenue from {{ source('orders', 'orders') }}
      where status = 'completed' group by all) as o on o.order_date = s.order_date
where s.revenue <> o.revenue
