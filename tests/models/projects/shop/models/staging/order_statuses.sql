{{ config(materialized='ephemeral') }}
{%- set statuses = status_list() %}
{% for s in statuses %}
select '{{ s }}' as status, {{ loop.index }} as status_rank
{% if not loop.last %}union all{% endif %}
{%- endfor %}
