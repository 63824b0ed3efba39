-- Components (sub-indices, dimensions) with a code stable across years, and the years each
-- one was published in the warehouse's sources.
with seen as (
    select indicator_code, component_code, min(year) as first_year, max(year) as last_year,
           count(distinct year) as years_published
    from {{ ref('int_observations') }}
    group by 1, 2
)
select
    c.indicator as indicator_code,
    c.component_code,
    c.parent_code,
    c.kind,
    c.sort_order,
    c.name_en,
    c.name_vi,
    seen.first_year,
    seen.last_year,
    coalesce(seen.years_published, 0) as years_published
from {{ ref('components') }} as c
left join seen on seen.indicator_code = c.indicator and seen.component_code = c.component_code
