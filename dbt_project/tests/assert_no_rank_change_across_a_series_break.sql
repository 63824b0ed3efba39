-- A rank change, a previous rank or a streak never reaches back across a component's series break
-- (seeds/series_breaks.csv: the PAPI total, Transparency and Vertical accountability from 2018).
select r.indicator_code, r.component_code, r.year, r.unit_key, r.previous_ranked_year, r.series_first_year
from {{ ref('fct_rankings') }} as r
join {{ ref('series_breaks') }} as b
    on b.indicator_code = r.indicator_code and b.component_code = r.component_code and b.first_year <= r.year
where r.previous_ranked_year < b.first_year
    or r.series_first_year is distinct from (
        select max(x.first_year) from {{ ref('series_breaks') }} as x
        where x.indicator_code = r.indicator_code and x.component_code = r.component_code and x.first_year <= r.year)
