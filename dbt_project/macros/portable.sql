{# The few constructs DuckDB and PostgreSQL spell differently, each behind adapter.dispatch with a
   DuckDB (default__) and a PostgreSQL implementation: the models read the same on both targets
   (`govwh build-postgres`, README "Scaling out"). The DuckDB spelling is the one the models had
   before, so the default build runs the SQL it always ran. #}

{# The median of a column (an aggregate). #}
{% macro median_of(expr) -%}{{ return(adapter.dispatch('median_of', 'governance')(expr)) }}{%- endmacro %}
{% macro default__median_of(expr) -%}median({{ expr }}){%- endmacro %}
{% macro postgres__median_of(expr) -%}percentile_cont(0.5) within group (order by {{ expr }}){%- endmacro %}

{# Any one value of a group whose rows all carry the same (the lineage of one publication);
   PostgreSQL 15 has no any_value: min is one of them. #}
{% macro any_of(expr) -%}{{ return(adapter.dispatch('any_of', 'governance')(expr)) }}{%- endmacro %}
{% macro default__any_of(expr) -%}any_value({{ expr }}){%- endmacro %}
{% macro postgres__any_of(expr) -%}min({{ expr }}){%- endmacro %}

{# A double rounded half away from zero to n decimals, decided on its exact binary value as DuckDB
   does (41.985 is stored as 41.98499999999999943..., so 41.98). PostgreSQL rounds numerics only,
   and its double -> numeric cast keeps 15 digits (41.985 -> 41.99): governance_round, created by
   create_portable_functions() at the start of a PostgreSQL run, rounds the exact value. #}
{% macro round_to(expr, places) -%}{{ return(adapter.dispatch('round_to', 'governance')(expr, places)) }}{%- endmacro %}
{% macro default__round_to(expr, places) -%}round({{ expr }}, {{ places }}){%- endmacro %}
{% macro postgres__round_to(expr, places) -%}{{ target.schema }}.governance_round({{ expr }}, {{ places }}){%- endmacro %}

{# UNION ALL matching columns by name (DuckDB); PostgreSQL matches by position, so both sides list
   their columns in the same order (the models do). #}
{% macro union_all_by_name() -%}{{ return(adapter.dispatch('union_all_by_name', 'governance')()) }}{%- endmacro %}
{% macro default__union_all_by_name() -%}union all by name{%- endmacro %}
{% macro postgres__union_all_by_name() -%}union all{%- endmacro %}

{# Unicode NFC of a text. #}
{% macro nfc(expr) -%}{{ return(adapter.dispatch('nfc', 'governance')(expr)) }}{%- endmacro %}
{% macro default__nfc(expr) -%}nfc_normalize({{ expr }}){%- endmacro %}
{% macro postgres__nfc(expr) -%}normalize({{ expr }}, NFC){%- endmacro %}

{# Every day from first (inclusive) to last (exclusive) as date_day. #}
{% macro days_between(first, last) -%}{{ return(adapter.dispatch('days_between', 'governance')(first, last)) }}{%- endmacro %}
{% macro default__days_between(first, last) -%}
select d::date as date_day from range(date '{{ first }}', date '{{ last }}', interval 1 day) as t(d)
{%- endmacro %}
{% macro postgres__days_between(first, last) -%}
select date '{{ first }}' + n as date_day from generate_series(0, date '{{ last }}' - date '{{ first }}' - 1) as t(n)
{%- endmacro %}

{# The published rank's pick among a fact's observations (window `fact`, one partition per fact):
   the first by source_priority, publication_preference (nulls last), flag_derived, flag_word_rank,
   flag_order_of_listing, publication_id among rows with a rank. rank_pick() selects it and
   rank_field(name) reads one of its fields: published_rank, rank_publication_id, rank_source_type,
   rank_from_wording, rank_derived, rank_from_order_of_listing; null where no row has a rank.
   DuckDB: one arg_min over a struct in the same pass as the value's pick; PostgreSQL: first_value
   over the rank order, per field. #}
{% macro rank_pick() -%}{{ return(adapter.dispatch('rank_pick', 'governance')()) }}{%- endmacro %}
{% macro default__rank_pick() -%}
           arg_min({'published_rank': published_rank, 'rank_publication_id': publication_id,
                    'rank_source_type': source_type, 'rank_from_wording': flag_word_rank,
                    'rank_derived': flag_derived, 'rank_from_order_of_listing': flag_order_of_listing},
                   {'p': source_priority, 'n': publication_preference is null,
                    'q': coalesce(publication_preference, 0), 'd': flag_derived, 'w': flag_word_rank,
                    'o': flag_order_of_listing, 'id': publication_id})
               filter (where published_rank is not null) over fact as r
{%- endmacro %}
{% macro postgres__rank_pick() -%}
{%- set fields = [('published_rank', 'published_rank'), ('rank_publication_id', 'publication_id'),
                  ('rank_source_type', 'source_type'), ('rank_from_wording', 'flag_word_rank'),
                  ('rank_derived', 'flag_derived'), ('rank_from_order_of_listing', 'flag_order_of_listing')] -%}
{%- for name, column in fields %}
           case when count(published_rank) over fact > 0 then first_value({{ column }}) over (
               fact order by (published_rank is null), source_priority, (publication_preference is null),
                             coalesce(publication_preference, 0), flag_derived, flag_word_rank,
                             flag_order_of_listing, publication_id) end as picked_{{ name }}{{ "," if not loop.last }}
{%- endfor %}
{%- endmacro %}
{% macro rank_field(alias, name) -%}{{ return(adapter.dispatch('rank_field', 'governance')(alias, name)) }}{%- endmacro %}
{% macro default__rank_field(alias, name) -%}{{ alias }}.r.{{ name }}{%- endmacro %}
{% macro postgres__rank_field(alias, name) -%}{{ alias }}.picked_{{ name }}{%- endmacro %}

{# After a table is built: PostgreSQL plans the next model's joins from table statistics, which a
   new table lacks until autovacuum comes by (fct_rankings took 160 s without them, 1 s with);
   DuckDB keeps its own as it writes. An empty hook is skipped. #}
{% macro analyze_after_build() -%}{{ return(adapter.dispatch('analyze_after_build', 'governance')()) }}{%- endmacro %}
{% macro default__analyze_after_build() -%}{%- endmacro %}
{% macro postgres__analyze_after_build() -%}analyze {{ this }}{%- endmacro %}

{# Before a model's query: PostgreSQL estimates a join on four or five key columns (indicator,
   level, year, component, unit) at one row, as if the columns were independent, then loops over
   every row of the other side (fct_rankings: 133 s) or merges on one key and filters on the rest
   (int_resolved_ranks: 419 million rows, 32 s). Hash joins on every key take 0.3 s and 1.9 s.
   `set local` holds for the model's own transaction only. #}
{% macro plan_for_batch() -%}{{ return(adapter.dispatch('plan_for_batch', 'governance')()) }}{%- endmacro %}
{% macro default__plan_for_batch() -%}{%- endmacro %}
{% macro postgres__plan_for_batch() -%}set local enable_nestloop = off; set local enable_mergejoin = off{%- endmacro %}

{# Run at the start of every dbt run (dbt_project.yml on-run-start); nothing on DuckDB. #}
{% macro create_portable_functions() -%}{{ return(adapter.dispatch('create_portable_functions', 'governance')()) }}{%- endmacro %}
{% macro default__create_portable_functions() -%}{%- endmacro %}
{% macro postgres__create_portable_functions() -%}
create schema if not exists {{ target.schema }};
-- x = m / 2^s exactly (m: the 53-bit significand, from the IEEE 754 bits); |x| * 10^places = num / 2^s;
-- n its integer part; one more when the remainder is at least half of 2^s. Integers in numeric: exact.
create or replace function {{ target.schema }}.governance_round(x double precision, places integer)
returns double precision language sql immutable strict parallel safe as $$
    select case when x = 0 or x = 'NaN'::double precision or abs(x) >= 4503599627370496 then x  -- NaN, infinities, integers
           else sign(x) * ((n + case when 2 * (num - n * d) >= d then 1 else 0 end) / 10::numeric ^ places)::double precision
           end
    from (select num, d, div(num, d) as n
          from (select m::numeric * 10::numeric ^ places as num, 2::numeric ^ (1075 - greatest(e, 1)) as d
                from (select (bits & 4503599627370495) | case when e > 0 then 4503599627370496 else 0 end as m, e
                      from (select bits, (bits >> 52) & 2047 as e
                            from (select ('x' || encode(float8send(abs(x)), 'hex'))::bit(64)::bigint as bits) as b
                           ) as f
                     ) as g
               ) as h
         ) as k
$$
{%- endmacro %}
