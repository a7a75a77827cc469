{# The macros of dbt's global project that projects and packages call (``dbt.dateadd(...)``), written for DuckDB as dbt-duckdb renders them. #}
{% macro current_timestamp() %}now(){% endmacro %}
{% macro snapshot_get_time() %}now()::timestamp{% endmacro %}
{% macro type_string() %}{{ return("TEXT") }}{% endmacro %}
{% macro type_int() %}{{ return("integer") }}{% endmacro %}
{% macro type_bigint() %}{{ return("bigint") }}{% endmacro %}
{% macro type_float() %}{{ return("float") }}{% endmacro %}
{% macro type_numeric() %}{{ return("numeric(28,6)") }}{% endmacro %}
{% macro type_timestamp() %}{{ return("timestamp") }}{% endmacro %}
{% macro type_boolean() %}{{ return("boolean") }}{% endmacro %}
{% macro string_literal(value) %}'{{ value }}'{% endmacro %}
{% macro escape_single_quotes(expression) %}{{ expression | replace("'", "''") }}{% endmacro %}
{% macro concat(fields) %}{{ fields | join(' || ') }}{% endmacro %}
{% macro hash(field) %}md5(cast({{ field }} as TEXT)){% endmacro %}
{% macro safe_cast(field, type) %}cast({{ field }} as {{ type }}){% endmacro %}
{% macro cast(field, type) %}cast({{ field }} as {{ type }}){% endmacro %}
{% macro cast_bool_to_text(field) %}cast({{ field }} as TEXT){% endmacro %}
{% macro equals(expr1, expr2) %}({{ expr1 }} = {{ expr2 }}){% endmacro %}
{# A quoted literal start ('2018-01-01', as Snowflake and Redshift take it) is read as a timestamp, as
   datediff reads its operands: DuckDB cannot tell which `+` a bare string literal means, so dbt-duckdb
   fails on it; a date or timestamp expression renders as dbt-duckdb renders it. #}
{% macro dateadd(datepart, interval, from_date_or_timestamp) %}
{%- set unit = datepart | lower -%}
{%- set start = from_date_or_timestamp | string | trim -%}
{%- if start[:1] == "'" and start[-1:] == "'" and start.count("'") == 2 -%}{%- set start = "cast(" ~ start ~ " as timestamp)" -%}
{%- else -%}{%- set start = from_date_or_timestamp -%}{%- endif -%}
{%- if unit == 'quarter' -%}({{ start }} + (cast({{ interval }} as bigint) * 3) * interval 1 month)
{%- elif unit == 'week' -%}({{ start }} + (cast({{ interval }} as bigint) * 7) * interval 1 day)
{%- else -%}({{ start }} + cast({{ interval }} as bigint) * interval 1 {{ unit }}){%- endif -%}
{% endmacro %}
{% macro datediff(first_date, second_date, datepart) %}
{%- if datepart == 'week' -%}
({{ datediff(first_date, second_date, 'day') }} // 7 + case when date_part('dow', ({{ first_date }})::timestamp) <= date_part('dow', ({{ second_date }})::timestamp)
  then case when {{ first_date }} <= {{ second_date }} then 0 else -1 end else case when {{ first_date }} <= {{ second_date }} then 1 else 0 end end)
{%- else -%}(date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date }}::timestamp)){%- endif -%}
{% endmacro %}
{% macro date_trunc(datepart, date) %}date_trunc('{{ datepart }}', {{ date }}){% endmacro %}
{% macro default_last_day(date, datepart) %}cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date){% endmacro %}
{% macro last_day(date, datepart) %}
{%- if datepart == 'quarter' -%}cast({{ dbt.dateadd('day', '-1', dbt.dateadd('month', '3', dbt.date_trunc(datepart, date))) }} as date)
{%- else -%}{{ dbt.default_last_day(date, datepart) }}{%- endif -%}
{% endmacro %}
{% macro date(year, month, day) %}to_date('{{ modules.datetime.date(year, month, day).strftime('%Y-%m-%d') }}', 'YYYY-MM-DD'){% endmacro %}
{% macro split_part(string_text, delimiter_text, part_number) %}string_split({{ string_text }}, {{ delimiter_text }})[ {{ part_number }} ]{% endmacro %}
{% macro length(expression) %}length({{ expression }}){% endmacro %}
{% macro position(substring_text, string_text) %}position({{ substring_text }} in {{ string_text }}){% endmacro %}
{% macro replace(field, old_chars, new_chars) %}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){% endmacro %}
{% macro right(string_text, length_expression) %}right({{ string_text }}, {{ length_expression }}){% endmacro %}
{% macro any_value(expression) %}arbitrary({{ expression }}){% endmacro %}
{% macro bool_or(expression) %}bool_or({{ expression }}){% endmacro %}
{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
{%- if limit_num -%}list_aggr((array_agg({{ measure }} {% if order_by_clause %}{{ order_by_clause }}{% endif %}))[1:{{ limit_num }}], 'string_agg', {{ delimiter_text }})
{%- else -%}string_agg({{ measure }}, {{ delimiter_text }} {% if order_by_clause %}{{ order_by_clause }}{% endif %}){%- endif -%}
{%- endmacro %}
{% macro except() %}except{% endmacro %}
{% macro intersect() %}intersect{% endmacro %}
{% macro array_construct(inputs=[], data_type=none) %}[{{ inputs | join(', ') }}]{% endmacro %}
{% macro array_append(array, new_element) %}array_append({{ array }}, {{ new_element }}){% endmacro %}
{% macro array_concat(array_1, array_2) %}array_cat({{ array_1 }}, {{ array_2 }}){% endmacro %}
{% macro get_powers_of_two(upper_bound) %}
{%- if upper_bound <= 0 %}{{ exceptions.raise_compiler_error("upper bound must be positive") }}{% endif -%}
{%- for _ in range(1, 100) %}{% if upper_bound <= 2 ** loop.index %}{{ return(loop.index) }}{% endif %}{% endfor -%}
{% endmacro %}
{% macro generate_series(upper_bound) %}select generate_series as generated_number from generate_series(1, {{ upper_bound }}){% endmacro %}
{% macro get_intervals_between(start_date, end_date, datepart) -%}
{%- call statement('get_intervals_between', fetch_result=True) %}select {{ dbt.datediff(start_date, end_date, datepart) }}{%- endcall -%}
{%- set value_list = load_result('get_intervals_between') -%}
{%- if value_list and value_list['data'] -%}{{ return(value_list['data'][0][0]) }}{%- else -%}{{ return(1) }}{%- endif -%}
{%- endmacro %}
{% macro date_spine(datepart, start_date, end_date) %}
with rawdata as ({{ dbt.generate_series(dbt.get_intervals_between(start_date, end_date, datepart)) }}),
all_periods as (select ({{ dbt.dateadd(datepart, "row_number() over (order by generated_number) - 1", start_date) }}) as date_{{ datepart }} from rawdata),
filtered as (select * from all_periods where date_{{ datepart }} <= {{ end_date }})
select * from filtered
{% endmacro %}
{% macro get_where_subquery(relation) -%}
{%- set where = config.get('where', '') -%}
{%- if where -%}{{ return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") }}{%- else -%}{{ return(relation) }}{%- endif -%}
{%- endmacro %}
{% macro get_columns_in_query(select_sql) %}{{ return(adapter.get_column_schema_from_query(select_sql) | map(attribute='name') | list) }}{% endmacro %}
{% macro load_relation(relation) %}{{ return(adapter.get_relation(relation.database, relation.schema, relation.identifier)) }}{% endmacro %}
{% macro load_cached_relation(relation) %}{{ return(load_relation(relation)) }}{% endmacro %}
{% macro should_full_refresh() %}{{ return(flags.FULL_REFRESH or config.get('full_refresh', false)) }}{% endmacro %}
{% macro generate_schema_name(custom_schema_name, node) %}{% if custom_schema_name is none %}{{ target.schema }}{% else %}{{ target.schema }}_{{ custom_schema_name | trim }}{% endif %}{% endmacro %}
{% macro generate_alias_name(custom_alias_name=none, node=none) %}{% if custom_alias_name %}{{ custom_alias_name | trim }}{% elif node.version %}{{ node.name ~ "_v" ~ node.version }}{% else %}{{ node.name }}{% endif %}{% endmacro %}
{% macro generate_database_name(custom_database_name=none, node=none) %}{% if custom_database_name is none %}{{ target.database }}{% else %}{{ custom_database_name | trim }}{% endif %}{% endmacro %}
{% macro should_store_failures() %}{{ return(config.get('store_failures') if config.get('store_failures') is not none else flags.STORE_FAILURES) }}{% endmacro %}
{% macro should_revoke(existing_relation, full_refresh_mode=True) %}{{ return(false) }}{% endmacro %}
