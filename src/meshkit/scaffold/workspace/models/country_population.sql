-- A model is a SELECT that `meshkit build` materialises in the warehouse (dbt-compatible).
select country, count(*) as cities, cast(sum(population) as bigint) as population
from {{ source('local', 'cities') }}
group by country
