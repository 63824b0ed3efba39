-- Grain: indicator x level x unit x year (headline index; served as marts.mart_streaks), for every year the indicator ranked
-- units. How many consecutive years, up to and including that year, the unit was 1st / in the
-- top 3 / in the top 10, so "first for the Nth year in a row" can be read as of any year.
-- A year with no rank for the unit is settled by exclusion where it can be: if k other units
-- hold ranks 1..k that year, the unit was outside the top k (Đà Nẵng's published rank 1 of 2016
-- means Quảng Ninh was not first). Otherwise the year is unknown: it neither breaks nor
-- continues a streak, and the status says "at_least". A streak never crosses a series break
-- (seeds/series_breaks.csv: the PAPI total from 2018).
--   status: exact              bounded by a known year outside the top k, or the first ranked year
--           at_least           an earlier year is unknown, so the streak may be longer
--           since_series_break the streak runs back to the first year of the current series
--           not_in_top         outside the top k this year (ranked below k, or excluded)
--           unknown            no rank for the unit this year and the top k not all known
with grid as (
    select y.indicator_code, y.level, y.year, u.unit_key
    from {{ ref('int_ranked_years') }} as y
    join (select distinct indicator_code, level, unit_key from {{ ref('int_resolved_ranks') }}
          where component_code = 'overall') as u using (indicator_code, level)
    join {{ ref('int_units') }} as v on v.level = u.level and v.unit_key = u.unit_key
    where {{ unit_existed_in('v', 'y.year') }}
),
held as (  -- per table: how many units hold a rank within the top k
    select indicator_code, level, year,
           count(*) filter (where rank <= 1) as held_1,
           count(*) filter (where rank <= 3) as held_3,
           count(*) filter (where rank <= 10) as held_10
    from {{ ref('int_resolved_ranks') }}
    where component_code = 'overall' and rank is not null
    group by indicator_code, level, year
),
ranks as (
    select g.*, r.rank,
           coalesce(h.held_1, 0) as held_1, coalesce(h.held_3, 0) as held_3, coalesce(h.held_10, 0) as held_10,
           {{ series_first_year('g.indicator_code', "'overall'", 'g.year') }} as series_first_year
    from grid as g
    left join {{ ref('int_resolved_ranks') }} as r
        on r.indicator_code = g.indicator_code and r.level = g.level and r.unit_key = g.unit_key
       and r.year = g.year and r.component_code = 'overall'
    left join held as h on h.indicator_code = g.indicator_code and h.level = g.level and h.year = g.year
),
series as (
    select *, min(year) over (partition by indicator_code, level, series_first_year) as first_year,
           min(year) over (partition by indicator_code, level) as indicator_first_year
    from ranks
),
{% for k in [1, 3, 10] %}
k{{ k }} as (
    select indicator_code, level, unit_key, year, rank, first_year, indicator_first_year,
        -- known outside the top k: ranked below it, or the top k places all held by others
        (rank > {{ k }} or (rank is null and held_{{ k }} >= {{ k }})) as outside,
        (rank is null and held_{{ k }} < {{ k }}) as unknown,
        -- the latest earlier year (in this series) that was not a confirmed top-k year
        max(case when rank is null or rank > {{ k }} then year end) over w as stop_year,
        max(case when rank > {{ k }} or (rank is null and held_{{ k }} >= {{ k }}) then year end) over w
            as last_outside_year
    from series
    window w as (partition by indicator_code, level, unit_key, series_first_year order by year
                 rows between unbounded preceding and 1 preceding)
){{ "," if not loop.last }}
{% endfor %}
select
    r.indicator_code, r.level, r.unit_key, u.unit_name, r.year, r.rank,
{% for k in [1, 3, 10] %}
    case when k{{ k }}.outside then 0 when r.rank is null then null
         else r.year - coalesce(k{{ k }}.stop_year, r.first_year - 1) end as streak_top{{ k }}_years,
    case when k{{ k }}.outside then 'not_in_top' when r.rank is null then 'unknown'
         when k{{ k }}.stop_year is null and r.first_year > r.indicator_first_year then 'since_series_break'
         when k{{ k }}.stop_year is null or k{{ k }}.stop_year = k{{ k }}.last_outside_year then 'exact'
         else 'at_least' end as streak_top{{ k }}_status{{ "," if not loop.last }}
{% endfor %}
from series as r
join {{ ref('int_units') }} as u on u.level = r.level and u.unit_key = r.unit_key
{% for k in [1, 3, 10] %}
join k{{ k }} on k{{ k }}.indicator_code = r.indicator_code and k{{ k }}.level = r.level
    and k{{ k }}.unit_key = r.unit_key and k{{ k }}.year = r.year
{% endfor %}
