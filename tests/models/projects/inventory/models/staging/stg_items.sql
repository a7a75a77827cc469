select id, name, qty * {{ var('inv_multiplier') }} as qty_scaled, '{{ inventory.unit_label() }}' as label
from {{ ref('inv_items') }}
