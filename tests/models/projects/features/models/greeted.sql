select id, {{ greetings.greet('name') }} as greeting, {{ dbt.concat(["name", "'!'"]) }} as exclaimed
from {{ ref('people') }}
