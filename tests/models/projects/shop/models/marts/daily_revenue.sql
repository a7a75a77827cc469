select order_date, sum(amount) as revenue, count(*) as orders
from {{ ref('orders') }}
where status != 'returned'
group by order_date
