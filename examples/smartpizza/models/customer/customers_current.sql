-- The current version of every customer, with PII: governed by policies/customer.rego.
{{ config(materialized='table') }}

select
    customer_id, first_name, last_name, email, phone, street, postal_code, city, country,
    marketing_consent, home_branch_id, active_from as customer_since_version
from {{ source('customer', 'dim_customer') }}
where active_to = timestamp '9999-12-31'
