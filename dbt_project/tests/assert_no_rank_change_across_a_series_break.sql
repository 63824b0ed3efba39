-- A rank change, a previous rank, a streak or a change of the mean never reaches back across a component's series break
-- (seeds/series_breaks.csv: the PAPI total, Transparency and Vertical accountability from 2018).
select r.indicator_code, r.component_code, r.year, r.unit_key, r.previous_ranked_year, r.series_first_year
from {{ ref('fct_rankings') }} as r
join {{ ref('series_breaks') }} as b
    on b.indicator_code = r.indicator_code and b.component_code = r.component_code and b.first_year <= r.year
where r.previous_ranked_year < b.first_year
    or r.series_first_year is distinct from (
        select max(x.first_year) from {{ ref('series_breaks') }} as x
        where x.indicator_code = r.indicator_code and x.component_code = r.component_code and x.first_year <= r.year)

union all

-- nor does a year's change of the mean or of the published average (mart_year_summaries)
select s.indicator_code, s.component_code, s.year, null, s.previous_year, b.first_year
from {{ ref('mart_year_summaries') }} as s
join {{ ref('series_breaks') }} as b
    on b.indicator_code = s.indicator_code and b.component_code = s.component_code and b.first_year = s.year
where s.mean_change is not null or s.published_average_change is not null
