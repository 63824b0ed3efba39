-- Published aggregates ("average of 17 ministries 84.38") kept as published, next to what the
-- warehouse computes from its own figures. Where the table is complete, a simple published
-- mean must match the computed mean within rounding (a dbt test fails otherwise); tolerance is
-- half a unit of the published precision plus 0.005 for the inputs' own 2-decimal rounding.
with stats as (
    select indicator_code, level, year, component_code,
           avg(value::decimal(38, 16))::double as computed_mean, median(value) as computed_median, count(value) as units_in_mean
    from {{ ref('fct_indicator_scores') }}
    where value is not null
    group by all
)
select
    a.indicator_code, a.level, a.year, a.component_code, a.label_as_published, a.aggregate_kind,
    a.aggregate_scope, a.aggregate_units, a.value as published_value, a.value_decimals,
    a.is_flagged, a.note, a.publication_id, a.source_type, a.source_url,
    coalesce(c.is_complete, false) as table_is_complete,
    c.units_ranked,
    s.units_in_mean,
    s.computed_mean,
    s.computed_median,
    case a.aggregate_kind when 'median' then s.computed_median else s.computed_mean end - a.value as difference,
    0.5 * pow(10, -coalesce(a.value_decimals, 0)) + 0.005 as tolerance,
    case
        when not coalesce(c.is_complete, false) or a.aggregate_scope is not null then null
        else abs(case a.aggregate_kind when 'median' then s.computed_median else s.computed_mean end - a.value)
             <= 0.5 * pow(10, -coalesce(a.value_decimals, 0)) + 0.005
    end as reconciles
from {{ ref('stg_curated__aggregates') }} as a
left join {{ ref('mart_coverage') }} as c using (indicator_code, level, year, component_code)
left join stats as s using (indicator_code, level, year, component_code)
