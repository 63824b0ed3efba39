-- Grain: indicator x year x sub-indicator. The provincial distribution of each sub-indicator
-- (units with a value, min, median, max, mean) next to the Min / Median / Max rows the publisher
-- printed below the table (PCI 2017-2019), which must agree (reconciles).
with stats as (
    select indicator_code, year, subindicator_code,
           count(value) as units_with_value,
           min(value) as computed_min, {{ median_of('value') }} as computed_median, max(value) as computed_max,
           avg(value::decimal(38, 16))::double precision as computed_mean
    from {{ ref('fct_subindicator_values') }}
    group by indicator_code, year, subindicator_code
),
published as (
    select indicator_code, year, component_code as subindicator_code,
           max(value) filter (where value_status = 'min') as published_min,
           max(value) filter (where value_status = 'median') as published_median,
           max(value) filter (where value_status = 'max') as published_max
    from {{ ref('int_workbook_rows') }}
    where grain = 'subindicator' and row_kind = 'aggregate'
    group by indicator_code, year, component_code
)
select
    s.indicator_code, s.year, s.subindicator_code, d.parent_component_code, d.name_en, d.unit_of_measure,
    s.units_with_value, s.computed_min, s.computed_median, s.computed_max, s.computed_mean,
    p.published_min, p.published_median, p.published_max,
    case when p.subindicator_code is null then null
         else coalesce(abs(p.published_min - s.computed_min) <= 1e-6, true)
          and coalesce(abs(p.published_median - s.computed_median) <= 1e-6, true)
          and coalesce(abs(p.published_max - s.computed_max) <= 1e-6, true) end as reconciles
from stats as s
join {{ ref('dim_subindicator') }} as d using (indicator_code, subindicator_code)
left join published as p using (indicator_code, year, subindicator_code)
