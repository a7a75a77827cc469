{% snapshot items_snapshot %}
{{ config(unique_key='id', strategy='timestamp', updated_at='updated_at') }}
select id, name, qty, updated_at from {{ ref('inv_items') }}
{% endsnapshot %}
