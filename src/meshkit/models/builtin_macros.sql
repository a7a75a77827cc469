{# Cross-database macros of dbt's global project, written for DuckDB. #}
{% macro current_timestamp() %}now(){% endmacro %}
{% macro snapshot_get_time() %}now()::timestamp{% endmacro %}
{% macro type_string() %}VARCHAR{% endmacro %}
{% macro type_int() %}INTEGER{% endmacro %}
{% macro type_bigint() %}BIGINT{% endmacro %}
{% macro type_float() %}DOUBLE{% endmacro %}
{% macro type_numeric() %}DECIMAL(28, 6){% endmacro %}
{% macro type_timestamp() %}TIMESTAMP{% endmacro %}
{% macro type_boolean() %}BOOLEAN{% endmacro %}
{% macro string_literal(value) %}'{{ value | replace("'", "''") }}'{% endmacro %}
{% macro escape_single_quotes(value) %}{{ value | replace("'", "''") }}{% endmacro %}
{% macro concat(fields) %}{{ fields | join(' || ') }}{% endmacro %}
{% macro hash(field) %}md5(cast({{ field }} as VARCHAR)){% endmacro %}
{% macro safe_cast(field, type) %}try_cast({{ field }} as {{ type }}){% endmacro %}
{% macro cast(field, type) %}cast({{ field }} as {{ type }}){% endmacro %}
{% macro dateadd(datepart, interval, from_date_or_timestamp) %}date_add({{ from_date_or_timestamp }}, interval ({{ interval }}) {{ datepart }}){% endmacro %}
{% macro datediff(first_date, second_date, datepart) %}date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date }}::timestamp){% endmacro %}
{% macro date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro %}
{% macro last_day(date, datepart) %}cast(date_trunc('{{ datepart }}', {{ date }}) + interval 1 {{ datepart }} - interval 1 day as date){% endmacro %}
{% macro split_part(string_text, delimiter_text, part_number) %}split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }}){% endmacro %}
{% macro length(expression) %}length({{ expression }}){% endmacro %}
{% macro position(substring_text, string_text) %}position({{ substring_text }} in {{ string_text }}){% endmacro %}
{% macro replace(field, old_chars, new_chars) %}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){% endmacro %}
{% macro right(string_text, length_expression) %}right({{ string_text }}, {{ length_expression }}){% endmacro %}
{% macro any_value(expression) %}any_value({{ expression }}){% endmacro %}
{% macro bool_or(expression) %}bool_or({{ expression }}){% endmacro %}
{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) %}string_agg({{ measure }}, {{ delimiter_text }}{% if order_by_clause %} {{ order_by_clause }}{% endif %}){% endmacro %}
{% macro except() %}except{% endmacro %}
{% macro intersect() %}intersect{% endmacro %}
{% macro array_construct(inputs=[], data_type=none) %}[{{ inputs | join(', ') }}]{% endmacro %}
{% macro generate_schema_name(custom_schema_name, node) %}{% if custom_schema_name is none %}{{ target.schema }}{% else %}{{ target.schema }}_{{ custom_schema_name | trim }}{% endif %}{% endmacro %}
