-- Grain: indicator x level x unit x component: each unit's latest figures, for the CLI profile and
-- the report's unit pages. The headline row (overall) is the latest year the unit was ranked (or,
-- never ranked, had a score), with its streaks as of that year; component rows are the latest year
-- the unit has component figures (PCI sub-indices to 2019 while the headline runs to 2024).
with scored as (
    select * from {{ ref('fct_rankings') }} where rank is not null or score is not null
),
headline_year as (
    select indicator_code, level, unit_key,
           coalesce(max(year) filter (where rank is not null), max(year)) as latest_year
    from scored where component_code = 'overall'
    group by indicator_code, level, unit_key
),
parts as (  -- the components listed: not the total, nor a variant of it (seeds/components.csv, kind)
    select indicator_code, component_code from {{ ref('dim_component') }} where kind not in ('overall', 'variant')
),
component_year as (
    select s.indicator_code, s.level, s.unit_key, max(s.year) as latest_year
    from scored as s
    join parts using (indicator_code, component_code)
    group by s.indicator_code, s.level, s.unit_key
),
latest as (
    select s.* from scored as s
    join headline_year as h using (indicator_code, level, unit_key)
    where s.component_code = 'overall' and s.year = h.latest_year
    {{ union_all_by_name() }}
    select s.* from scored as s
    join parts using (indicator_code, component_code)
    join component_year as c using (indicator_code, level, unit_key)
    where s.year = c.latest_year
)
select
    l.indicator_code,
    l.level,
    l.unit_key,
    l.unit_name,
    l.component_code,
    d.name_en as component_name_en,
    d.name_vi as component_name_vi,
    d.sort_order as component_sort_order,
    l.year,
    l.score,
    l.score_2dp,
    l.rank,
    l.rank_label,
    l.rank_source,
    l.rank_change,
    l.previous_ranked_year,
    l.value_source_type,
    l.value_source_url,
    s.streak_top1_years,
    s.streak_top1_status,
    s.streak_top3_years,
    s.streak_top3_status,
    s.streak_top10_years,
    s.streak_top10_status
from latest as l
left join {{ ref('dim_component') }} as d on d.indicator_code = l.indicator_code and d.component_code = l.component_code
left join {{ ref('int_streaks') }} as s
    on l.component_code = 'overall' and s.indicator_code = l.indicator_code and s.level = l.level
   and s.unit_key = l.unit_key and s.year = l.year
