{%- set columns = adapter.get_columns_in_relation(ref('people')) -%}
{%- set existing = adapter.get_relation(database=this.database, schema=ref('people').schema, identifier='people') -%}
{%- set oldest = run_query('select max(age) from ' ~ ref('people')) -%}
{%- call statement('countries', fetch_result=True) -%}
    select count(distinct country) as n from {{ ref('people') }}
{%- endcall -%}
{%- set countries = load_result('countries') -%}
select
    '{{ columns | map(attribute='name') | join(',') }}' as column_names,
    {{ 'true' if existing is not none else 'false' }} as people_exists,
    {{ oldest.columns[0].values()[0] if execute else 0 }} as oldest_age,
    {{ countries['data'][0][0] if execute else 0 }} as country_count,
    {{ graph.nodes.values() | selectattr('resource_type', 'equalto', 'seed') | list | length }} as seed_count,
    '{{ flags.WHICH }}' as which,
    {{ 'true' if flags.FULL_REFRESH else 'false' }} as full_refresh,
    '{{ env_var('FEATURES_COUNTRY', 'nowhere') }}' as country_from_env,
    '{{ var('greeting_word') }}' as word
