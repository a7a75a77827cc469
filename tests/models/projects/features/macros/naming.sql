{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}{{ custom_alias_name | trim }}
    {%- elif node.resource_type == 'seed' -%}seed_{{ node.name }}
    {%- else -%}{{ node.name }}{%- endif -%}
{%- endmacro %}

{% macro features__shout(word) -%}
    upper({{ word }})
{%- endmacro %}

{% macro duckdb__greet(name) -%}
    {{ greetings.shout("'" ~ var('greeting_word') ~ ", '") }} || {{ name }}
{%- endmacro %}
