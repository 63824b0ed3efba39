{#- The DDL of a contracted table: dbt's own (columns with NOT NULL, then model constraints), except
    for a model marked `meta: {keys_indexed: false}`, whose primary and foreign keys are left out.
    DuckDB builds an index (ART) for every key as the rows are committed, held in memory; for the
    fact tables, one row per figure, those indexes grow with the data: at 100x today's data
    (bench/scale.py, 8.4 M figures) fct_observations' primary key alone outgrows the build's 1 GB
    limit, and the foreign keys' indexes take memory the models' queries then lack.
    Their keys stay declared in the YAML and are checked by tests instead: `unique` and `not_null`
    on the key column, tests/assert_fact_table_foreign_keys_hold.sql for each foreign key. The
    serving file adds the foreign keys (BI tools infer joins from them), the exports and the
    PostgreSQL mirror carry every key (ingest.publish.table_keys reads them from dbt's manifest). -#}
{% macro duckdb__get_table_columns_and_constraints() -%}
  {%- set meta = config.get('meta') or {} -%}
  {%- set kept = [] if meta.get('keys_indexed', true) == false else model['constraints'] -%}
  {%- set raw_column_constraints = adapter.render_raw_columns_constraints(raw_columns=model['columns']) -%}
  {%- set raw_model_constraints = adapter.render_raw_model_constraints(raw_constraints=kept) -%}
  (
  {% for c in raw_column_constraints -%}
    {{ c }}{{ "," if not loop.last or raw_model_constraints }}
  {% endfor %}
  {% for c in raw_model_constraints -%}
    {{ c }}{{ "," if not loop.last }}
  {% endfor -%}
  )
{%- endmacro %}
