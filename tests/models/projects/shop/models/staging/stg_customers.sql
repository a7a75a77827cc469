select
    id as customer_id,
    first_name,
    last_name,
    signup_date,
    is_active,
    score
from {{ ref('raw_customers') }}
