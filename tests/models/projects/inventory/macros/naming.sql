{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}{{ custom_alias_name | trim }}
    {%- elif node.resource_type == 'model' -%}inv_{{ node.name }}
    {%- else -%}{{ node.name }}{%- endif -%}
{%- endmacro %}
