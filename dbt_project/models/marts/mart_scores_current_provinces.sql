-- NOT AN OFFICIAL RANKING. Published figures regrouped onto today's 34 provinces, to answer
-- "which of today's provinces did best": the unweighted mean of the figures of the provinces
-- that now form it, with how many of them had a figure that year.
-- Grain: current province x indicator x component x year.
with figures as (
    select f.indicator_code, f.level, f.component_code, f.year, f.unit_key as province_key, f.value,
           c.current_province_key
    from {{ ref('fct_indicator_scores') }} as f
    join {{ ref('int_province_current') }} as c on c.province_key = f.unit_key
    where f.value is not null and f.level = 'province' 
),
predecessors as (
    -- provinces that existed in a year, per today's province
    select c.current_province_key, y.year, count(*) as provinces_then
    from {{ ref('provinces') }} as p
    join {{ ref('int_province_current') }} as c using (province_key)
    cross join (select distinct year from figures) as y
    where {{ unit_existed_in('p', 'y.year') }}
      and (p.valid_from is null or p.valid_from < date '2025-07-01')
    group by 1, 2
),
grouped as (
    select current_province_key, indicator_code, level, component_code, year,
           avg(value::decimal(38, 16))::double as mean_value, min(value) as min_value, max(value) as max_value,  -- exact decimal sum: a parallel double sum is not bit-stable
           count(*) as provinces_with_figure,
           string_agg(province_key, ',' order by province_key) as province_keys
    from figures
    group by 1, 2, 3, 4, 5
)
select
    g.current_province_key,
    d.province_name as current_province_name,
    g.indicator_code,
    g.level,
    g.component_code,
    g.year,
    g.mean_value,
    round(g.mean_value, 2)::decimal(9, 2) as mean_value_2dp,
    g.min_value,
    g.max_value,
    g.provinces_with_figure,
    p.provinces_then,
    g.provinces_with_figure = p.provinces_then as is_complete,
    g.province_keys,
    -- ranked only where every one of today's provinces has a complete figure set that year
    case when bool_and(g.provinces_with_figure = p.provinces_then) over (
                  partition by g.indicator_code, g.level, g.component_code, g.year)
              and count(*) over (partition by g.indicator_code, g.level, g.component_code, g.year) = 34
         then rank() over (partition by g.indicator_code, g.level, g.component_code, g.year
                           order by g.mean_value desc) end as unofficial_rank,
    false as is_official_ranking
from grouped as g
join {{ ref('dim_province') }} as d on d.province_key = g.current_province_key
left join predecessors as p on p.current_province_key = g.current_province_key and p.year = g.year
