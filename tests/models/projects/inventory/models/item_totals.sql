select count(*) as items, sum(qty_scaled) as total, '{{ var("inv_unit") }}' as unit
from {{ ref('stg_items') }}
