select id, name, age, country from {{ ref('raw_people') }}
