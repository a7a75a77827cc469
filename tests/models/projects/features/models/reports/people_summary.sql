select country, count(*) as people, {{ greetings.average_age('age') }} as average_age
from {{ ref('people') }}
group by country
