{% test is_positive(model, column_name) %}
select * from {{ model }} where {{ column_name }} <= 0
{% endtest %}

{% test in_range(model, column_name, low, high) %}
{{ config(severity='warn') }}
select * from {{ model }} where {{ column_name }} < {{ low }} or {{ column_name }} > {{ high }}
{% endtest %}

{% test same_rows_as(model, other) %}
{%- set mine = run_query('select count(*) from ' ~ model) -%}
{%- set theirs = run_query('select count(*) from ' ~ other) -%}
select 1 as mismatch
{% if execute and mine.rows[0][0] == theirs.rows[0][0] %} where false {% endif %}
{% endtest %}
