{% macro greet(name) -%}
    {{ return(adapter.dispatch('greet', 'greetings')(name)) }}
{%- endmacro %}

{% macro default__greet(name) -%}
    'hi ' || {{ name }}
{%- endmacro %}

{% macro shout(word) -%}
    {{ return(adapter.dispatch('shout', 'greetings')(word)) }}
{%- endmacro %}

{% macro default__shout(word) -%}
    lower({{ word }})
{%- endmacro %}

{% macro average_age(column) -%}
    {{ return(adapter.dispatch('average_age', 'greetings')(column)) }}
{%- endmacro %}

{% macro default__average_age(column) -%}
    avg({{ column }})
{%- endmacro %}

{% macro duckdb__average_age(column) -%}
    round(avg({{ column }}), {{ greetings._digits() }})
{%- endmacro %}

{% macro _digits() -%}
    {{ return(1) }}
{%- endmacro %}
