-- Grain: indicator x level x year x component x unit, for the tables where the publisher gives every
-- ranked unit a 95% interval (PAPI 2019): the rank band, the best and worst rank the unit could hold
-- given the intervals. best = 1 + units whose interval lies wholly above this unit's; worst = 1 +
-- other units whose interval reaches this unit's low end or above.
with ranked as (
    select indicator_code, level, year, component_code, unit_key, rank, ci_low, ci_high
    from {{ ref('int_resolved_ranks') }}
    where rank is not null
),
interval_tables as (  -- tables where every ranked unit has a published interval
    select indicator_code, level, year, component_code
    from ranked
    group by indicator_code, level, year, component_code
    having count(*) = count(ci_low) and count(*) = count(ci_high)
)
select a.indicator_code, a.level, a.year, a.component_code, a.unit_key,
       (1 + count(*) filter (where b.ci_low > a.ci_high))::integer as rank_best,
       (1 + count(*) filter (where b.unit_key <> a.unit_key and b.ci_high >= a.ci_low))::integer as rank_worst
from ranked as a
join interval_tables as i using (indicator_code, level, year, component_code)
join ranked as b using (indicator_code, level, year, component_code)
group by a.indicator_code, a.level, a.year, a.component_code, a.unit_key
