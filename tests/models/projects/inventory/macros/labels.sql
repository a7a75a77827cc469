{% macro unit_label() %}{{ var('inv_label') }}/{{ var('inv_unit') }}{% endmacro %}
