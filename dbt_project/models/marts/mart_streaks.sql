-- Grain: indicator x level x unit x year (headline index), for every year the indicator ranked
-- units. How many consecutive years, up to and including that year, the unit was 1st / in the
-- top 3 / in the top 10, so "first for the Nth year in a row" can be read as of any year.
-- A year with no published rank for the unit (a partial table, a missing year) is unknown: it
-- neither breaks nor continues a streak, and the status says "at_least".
--   status: exact      the streak is bounded by a known year outside the top k (or the first year)
--           at_least   an earlier year is unknown, so the streak may be longer
--           not_in_top the unit is ranked this year but not in the top k
--           unknown    no rank for the unit this year
with grid as (
    select y.indicator_code, y.level, y.year, u.unit_key
    from {{ ref('int_ranked_years') }} as y
    join (select distinct indicator_code, level, unit_key from {{ ref('fct_rankings') }}
          where component_code = 'overall') as u using (indicator_code, level)
    join {{ ref('int_units') }} as v on v.level = u.level and v.unit_key = u.unit_key
    where (v.valid_from is null or extract(year from v.valid_from) <= y.year)
      and (v.valid_to is null or extract(year from v.valid_to) >= y.year)
),
ranks as (
    select g.*, r.rank, min(g.year) over (partition by g.indicator_code, g.level) as first_year
    from grid as g
    left join {{ ref('fct_rankings') }} as r
        on r.indicator_code = g.indicator_code and r.level = g.level and r.unit_key = g.unit_key
       and r.year = g.year and r.component_code = 'overall'
),
{% for k in [1, 3, 10] %}
k{{ k }} as (
    select indicator_code, level, unit_key, year, rank, first_year,
        -- the latest earlier year that was not a confirmed top-k year (outside it, or unknown)
        max(case when rank is null or rank > {{ k }} then year end) over w as stop_year
    from ranks
    window w as (partition by indicator_code, level, unit_key order by year
                 rows between unbounded preceding and 1 preceding)
){{ "," if not loop.last }}
{% endfor %}
select
    r.indicator_code, r.level, r.unit_key, u.unit_name, r.year, r.rank,
{% for k in [1, 3, 10] %}
    case when r.rank is null then null when r.rank > {{ k }} then 0
         else r.year - coalesce(k{{ k }}.stop_year, r.first_year - 1) end as streak_top{{ k }}_years,
    case when r.rank is null then 'unknown' when r.rank > {{ k }} then 'not_in_top'
         when k{{ k }}.stop_year is null or stop{{ k }}.rank is not null then 'exact'
         else 'at_least' end as streak_top{{ k }}_status{{ "," if not loop.last }}
{% endfor %}
from ranks as r
join {{ ref('int_units') }} as u on u.level = r.level and u.unit_key = r.unit_key
{% for k in [1, 3, 10] %}
join k{{ k }} on k{{ k }}.indicator_code = r.indicator_code and k{{ k }}.level = r.level
    and k{{ k }}.unit_key = r.unit_key and k{{ k }}.year = r.year
left join ranks as stop{{ k }} on stop{{ k }}.indicator_code = r.indicator_code and stop{{ k }}.level = r.level
    and stop{{ k }}.unit_key = r.unit_key and stop{{ k }}.year = k{{ k }}.stop_year
{% endfor %}
