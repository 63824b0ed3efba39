-- Grain: indicator x level x year x component (served as marts.mart_coverage; fct_rankings and
-- mart_published_aggregates read it here). How much of each year's table the warehouse
-- holds: units with a figure (any source) against the units the publisher ranked that year.
-- A table is complete when every ranked unit has a figure; ranks are never computed from a
-- partial table.
with ranked as (
    select indicator_code as indicator, level, year, units_ranked, basis from {{ ref('int_ranked_years') }}
),
held as (
    select indicator_code, level, year, component_code,
           count(value) as units_with_figure,
           count(published_rank) as units_with_rank,
           count(*) filter (where value_status = 'not_scored') as units_not_scored,
           count(*) filter (where value_status = 'no_data') as units_no_data
    from {{ ref('int_indicator_scores') }}
    group by indicator_code, level, year, component_code
)
select
    h.indicator_code, h.level, h.year, h.component_code,
    h.units_with_figure, h.units_with_rank, h.units_not_scored, h.units_no_data,
    r.units_ranked,
    {{ round_to('h.units_with_figure::double precision / r.units_ranked', 4) }} as coverage,
    -- a unit the publisher printed as no data ("KCDL") in this table is not one it ranked in it
    coalesce(h.units_with_figure >= r.units_ranked - h.units_no_data, false) as is_complete,
    r.basis as units_ranked_basis
from held as h
left join ranked as r on r.indicator = h.indicator_code and r.level = h.level and r.year = h.year
