-- What each branch must reorder now: ingredients whose stock covers less than a day of sales.
{{ config(materialized='table') }}

with latest as (
    select * from {{ source('supply', 'stock_daily') }}
    where snapshot_date = (select max(snapshot_date) from {{ source('supply', 'stock_daily') }})
)
select
    s.snapshot_date,
    s.branch_id,
    b.name as branch,
    i.name as ingredient,
    s.status,
    s.closing_g,
    s.consumed_g,
    s.days_of_cover,
    greatest(s.consumed_g * 2 - s.closing_g, 0) as reorder_g
from latest as s
join {{ source('supply', 'branches') }} as b on b.branch_id = s.branch_id
join {{ source('supply', 'ingredients') }} as i on i.ingredient_id = s.ingredient_id
where s.status <> 'ok'
