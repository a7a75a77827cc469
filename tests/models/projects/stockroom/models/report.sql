select t.items, t.total, t.unit, s.label,
       {{ var('inv_multiplier', 0) }} as root_multiplier, '{{ var("shelf") }}' as shelf,
       '{{ inventory.unit_label() if var("inv_unit", none) else var("inv_label") }}' as root_label
from {{ ref('inventory', 'item_totals') }} as t
cross join (select distinct label from {{ ref('stg_items') }}) as s
