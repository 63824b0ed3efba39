-- Grain: indicator x level x component x year. Units ranked, and where the warehouse holds the
-- whole table: mean, median, min and max of the scores and the change of the mean against the
-- previous year (not into a new series); the published average where a source printed one; where a new series starts
-- (seeds/series_breaks.csv), what changed, as the publisher's methodology states it.
with stats as (
    select indicator_code, level, component_code, year,
           count(score) as units_with_score,
           bool_and(table_is_complete) as table_is_complete,
           avg(score::decimal(38, 16))::double precision as mean_score, {{ median_of('score') }} as median_score,
           min(score) as min_score, max(score) as max_score
    from {{ ref('fct_rankings') }}
    group by indicator_code, level, component_code, year
),
published as (
    select indicator_code, level, component_code, year,
           min(published_value) filter (where aggregate_kind = 'mean' and aggregate_scope is null) as published_average,
           min(published_value) filter (where aggregate_kind = 'median' and aggregate_scope is null) as published_median
    from {{ ref('int_published_aggregates') }}
    group by indicator_code, level, component_code, year
),
complete as (
    select s.indicator_code, s.level, s.component_code, s.year, s.units_with_score, s.table_is_complete,
           y.units_ranked,
           case when s.table_is_complete then s.mean_score end as mean_score,
           case when s.table_is_complete then s.median_score end as median_score,
           case when s.table_is_complete then s.min_score end as min_score,
           case when s.table_is_complete then s.max_score end as max_score
    from stats as s
    left join {{ ref('int_ranked_years') }} as y using (indicator_code, level, year)
)
select
    c.*,
    {{ round_to('c.mean_score', 2) }}::decimal(9, 2) as mean_score_2dp,
    p.published_average,
    p.published_median,
    lag(c.year) over w as previous_year,
    -- a change only between consecutive years of one series: never into a break's first year
    -- (PAPI's total of 2018 sums eight dimensions, 2017's six)
    case when lag(c.year) over w = c.year - 1 and b.first_year is null
        then {{ round_to('c.mean_score - lag(c.mean_score) over w', 9) }} end as mean_change,
    case when lag(c.year) over w = c.year - 1 and b.first_year is null
        then p.published_average - lag(p.published_average) over w end as published_average_change,
    b.description as series_break_note
from complete as c
left join published as p using (indicator_code, level, component_code, year)
left join {{ ref('series_breaks') }} as b
    on b.indicator_code = c.indicator_code and b.component_code = c.component_code and b.first_year = c.year
window w as (partition by c.indicator_code, c.level, c.component_code order by c.year)
