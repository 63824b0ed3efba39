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
formed_from as (  -- how many provinces that ever existed make up each of today's provinces
    select current_province_key, count(*) as provinces_ever
    from {{ ref('int_province_current') }}
    group by 1
),
grouped as (
    -- a province that was never merged: its own figure, nothing to average (no grouping of millions
    -- of single rows); the decimal round trip is the one the mean below takes
    select f.current_province_key, f.indicator_code, f.level, f.component_code, f.year,
           f.value::decimal(38, 16)::double precision as mean_value, f.value as min_value, f.value as max_value,
           1 as provinces_with_figure, f.province_key as province_keys
    from figures as f
    join formed_from as n using (current_province_key)
    where n.provinces_ever = 1
    union all
    select f.current_province_key, f.indicator_code, f.level, f.component_code, f.year,
           avg(f.value::decimal(38, 16))::double precision as mean_value, min(f.value) as min_value, max(f.value) as max_value,  -- exact decimal sum: a parallel double sum is not bit-stable
           count(*) as provinces_with_figure,
           string_agg(f.province_key, ',' order by f.province_key) as province_keys
    from figures as f
    join formed_from as n using (current_province_key)
    where n.provinces_ever > 1
    group by 1, 2, 3, 4, 5
),
scored as (
    select g.*, p.provinces_then, g.provinces_with_figure = p.provinces_then as is_complete
    from grouped as g
    left join predecessors as p on p.current_province_key = g.current_province_key and p.year = g.year
),
rankable as (
    -- ranked only where every one of today's provinces has a complete figure set that year
    select indicator_code, level, component_code, year
    from scored
    group by indicator_code, level, component_code, year
    having bool_and(is_complete) and count(*) = 34
),
ranks as (
    select s.current_province_key, s.indicator_code, s.level, s.component_code, s.year,
           rank() over (partition by s.indicator_code, s.level, s.component_code, s.year
                        order by s.mean_value desc) as unofficial_rank
    from scored as s
    where exists (select 1 from rankable as r  -- a semi join
                  where r.indicator_code = s.indicator_code and r.level = s.level
                    and r.component_code = s.component_code and r.year = s.year)
)
select
    s.current_province_key,
    d.province_name as current_province_name,
    s.indicator_code,
    s.level,
    s.component_code,
    s.year,
    s.mean_value,
    {{ round_to('s.mean_value', 2) }}::decimal(9, 2) as mean_value_2dp,
    s.min_value,
    s.max_value,
    s.provinces_with_figure,
    s.provinces_then,
    s.is_complete,
    s.province_keys,
    r.unofficial_rank,
    false as is_official_ranking
from scored as s
join {{ ref('dim_province') }} as d on d.province_key = s.current_province_key
left join ranks as r
    on r.current_province_key = s.current_province_key and r.indicator_code = s.indicator_code
   and r.level = s.level and r.component_code = s.component_code and r.year = s.year
