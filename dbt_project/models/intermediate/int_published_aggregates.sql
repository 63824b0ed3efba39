-- Published aggregates (served as marts.mart_published_aggregates; "average of 17 ministries 84.38", the Min / Median / Max rows below
-- VCCI's 2017-2019 tables, a region's average) kept as published, next to what the warehouse
-- computes from its own figures (for a region: the mean of that year's provinces of the region). Where the table is complete, a simple published
-- mean must match the computed mean within rounding (a dbt test fails otherwise); tolerance is
-- half a unit of the published precision plus 0.005 for the inputs' own 2-decimal rounding.
-- computed_value is the warehouse's statistic of the published one's kind (mean, median, min, max;
-- a region's mean) and difference = computed_value - published_value
-- (tests/assert_published_aggregates_arithmetic.sql).
{% set compared = "coalesce(c.is_complete, false) and (a.aggregate_scope is null or a.region_code is not null)" %}
with stats as (
    select indicator_code, level, year, component_code,
           avg(value::decimal(38, 16))::double precision as computed_mean, {{ median_of('value') }} as computed_median,
           min(value) as computed_min, max(value) as computed_max, count(value) as units_in_mean
    from {{ ref('int_indicator_scores') }}
    where value is not null
    group by indicator_code, level, year, component_code
),
region_names as (  -- a region as printed: its Vietnamese or English name, or an alias (seeds)
    select region_code, lower(name_vi) as printed from {{ ref('regions') }}
    union
    select region_code, lower(name_en) from {{ ref('regions') }}
    union
    select region_code, lower(alias) from {{ ref('region_aliases') }}
),
regional_stats as (
    select s.indicator_code, s.level, s.year, s.component_code, r.region_code,
           avg(s.value::decimal(38, 16))::double precision as computed_mean, {{ median_of('s.value') }} as computed_median,
           count(s.value) as units_in_mean
    from {{ ref('int_indicator_scores') }} as s
    join {{ ref('dim_province') }} as p on p.province_key = s.unit_key
    join {{ ref('regions') }} as r on r.name_vi = p.region_vi
    where s.level = 'province' and s.value is not null
    group by s.indicator_code, s.level, s.year, s.component_code, r.region_code
),
workbook_aggregates as (  -- Min / Median / Max rows printed below a publisher's table
    select indicator_code, level, year, component_code, unit_name_as_published as label_as_published,
           value_status as aggregate_kind, null as aggregate_scope, null::integer as aggregate_units, value,
           null::integer as value_decimals, false as is_flagged, null as note, publication_id, source_type,
           source_url
    from {{ ref('int_workbook_rows') }}
    where grain = 'score' and row_kind = 'aggregate'
),
aggregates as (
    select indicator_code, level, year, component_code, label_as_published, aggregate_kind, aggregate_scope,
           aggregate_units, value, value_decimals, is_flagged, note, publication_id, source_type, source_url
    from {{ ref('stg_curated__aggregates') }}
    {{ union_all_by_name() }}
    select * from workbook_aggregates
),
computed as (
    select a.*, rn.region_code,
           case when a.aggregate_scope is not null then rs.computed_mean
                when a.aggregate_kind = 'median' then s.computed_median when a.aggregate_kind = 'min' then s.computed_min
                when a.aggregate_kind = 'max' then s.computed_max else s.computed_mean end as computed_value,
           case when a.aggregate_scope is not null then rs.units_in_mean else s.units_in_mean end as units_in_mean,
           case when a.aggregate_scope is not null then rs.computed_mean else s.computed_mean end as computed_mean,
           case when a.aggregate_scope is not null then rs.computed_median else s.computed_median end as computed_median,
           -- a workbook's aggregate row is unrounded: it must match to 1e-6
           case when a.source_type = 'publisher_file' and a.value_decimals is null then 1e-6
                else 0.5 * pow(10, -coalesce(a.value_decimals, 0)) + 0.005 end as tolerance
    from aggregates as a
    left join stats as s using (indicator_code, level, year, component_code)
    left join region_names as rn on rn.printed = lower(a.aggregate_scope)
    left join regional_stats as rs
        on rs.indicator_code = a.indicator_code and rs.level = a.level and rs.year = a.year
        and rs.component_code = a.component_code and rs.region_code = rn.region_code
)
select
    -- a region's average is an aggregate at level `region` (of the provincial table it averages)
    a.indicator_code, case when a.aggregate_scope is not null then 'region' else a.level end as level,
    a.year, a.component_code, a.label_as_published, a.aggregate_kind,
    a.aggregate_scope, a.region_code, a.aggregate_units, a.value as published_value, a.value_decimals,
    a.is_flagged, a.note, a.publication_id, a.source_type, a.source_url,
    coalesce(c.is_complete, false) as table_is_complete,
    c.units_ranked,
    -- the warehouse's own figures only where it holds the whole table (for a region: the whole
    -- provincial table, and a region a seed names): the mean of 2-13 units of a partial table is
    -- no national mean, and set beside a published one it would read as a comparison
    case when {{ compared }} then a.units_in_mean end as units_in_mean,
    case when {{ compared }} then a.computed_mean end as computed_mean,
    case when {{ compared }} then a.computed_median end as computed_median,
    case when {{ compared }} then a.computed_value end as computed_value,
    case when {{ compared }} then a.computed_value - a.value end as difference,
    a.tolerance,
    case when {{ compared }} then abs(a.computed_value - a.value) <= a.tolerance end as reconciles
from computed as a
left join {{ ref('int_table_coverage') }} as c
    on c.indicator_code = a.indicator_code and c.level = a.level and c.year = a.year
    and c.component_code = a.component_code
