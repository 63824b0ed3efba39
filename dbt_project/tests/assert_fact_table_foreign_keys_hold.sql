-- The foreign keys of the fact tables and mart_scores_current_provinces (one row per figure), declared in the marts YAML but not indexed in DuckDB
-- (meta keys_indexed: false; macros/constraints.sql says why), checked here as the index would:
-- each non-null key finds its row in the table it refers to. Returns one row per broken key.
-- depends_on: {{ ref('fct_observations') }} {{ ref('fct_indicator_scores') }} {{ ref('fct_rankings') }}
-- depends_on: {{ ref('fct_subindicator_values') }} {{ ref('dim_publication') }} {{ ref('dim_indicator') }}
-- depends_on: {{ ref('dim_component') }} {{ ref('dim_subindicator') }} {{ ref('mart_scores_current_provinces') }} {{ ref('dim_province') }}
{%- set checks = [] -%}
{%- if execute -%}
  {%- for node in graph.nodes.values() | sort(attribute='name') -%}
    {%- if node.resource_type == 'model' and (node.config.meta or {}).get('keys_indexed', true) == false -%}
      {%- for c in node.constraints if c.type == 'foreign_key' -%}
        {%- do checks.append((node, c)) -%}
      {%- endfor -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if checks | length != 8 -%}
    {{ exceptions.raise_compiler_error("expected the 8 foreign keys of the 5 unindexed marts, found " ~ checks | length) }}
  {%- endif -%}
{%- endif %}
{% for node, c in checks %}
select '{{ node.name }}' as fact_table, '{{ c.columns | join(", ") }}' as key_columns, count(*) as orphans
from {{ ref(node.name) }} as f
where {% for col in c.columns %}f.{{ adapter.quote(col) }} is not null and {% endfor %}not exists (
    select 1 from {{ c.to }} as t
    where {% for col in c.columns %}{% if not loop.first %} and {% endif %}t.{{ adapter.quote(c.to_columns[loop.index0]) }} = f.{{ adapter.quote(col) }}{% endfor %})
having count(*) > 0
{% if not loop.last %}union all{% endif %}
{% endfor %}
{% if not execute %}select 1 as parsed where false{% endif %}
