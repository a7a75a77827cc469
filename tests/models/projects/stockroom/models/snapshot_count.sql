select count(*) as versions from {{ ref('items_snapshot') }}
