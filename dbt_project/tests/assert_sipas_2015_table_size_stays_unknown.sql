-- SIPAS 2015 (the pilot year): the ministry's announcement read in the news ranks 10 provinces and
-- says nowhere how many were surveyed, and seeds/ranked_units.csv has no row for it. Pinned here:
-- the 10 ranks stay "N of ?", the table's size stays unknown in every mart that states one, and
-- 2017's ranks are never compared with 2015's. A seed row made up for 2015, or a fallback that
-- counted the units held, fails this test. Each row returned names what broke.
with sipas_2015 as (
    select *
    from {{ ref('fct_rankings') }}
    where indicator_code = 'sipas' and level = 'province' and year = 2015 and component_code = 'overall'
)

select 'expected 10 ranked provinces in SIPAS 2015, found ' || count(rank) as problem
from sipas_2015
having count(rank) <> 10

union all

select 'SIPAS 2015 ' || unit_key || ' states a table size: ' || coalesce(rank_label, '(no label)')
from sipas_2015
where units_ranked is not null or rank_label not like '% of ?'

union all

select 'SIPAS 2017 ' || unit_key || ' has a rank change against 2015'
from {{ ref('fct_rankings') }}
where indicator_code = 'sipas' and level = 'province' and year = 2017 and rank_change is not null

union all

select 'mart_year_summaries states a size for SIPAS 2015: ' || units_ranked
from {{ ref('mart_year_summaries') }}
where indicator_code = 'sipas' and level = 'province' and year = 2015 and component_code = 'overall'
    and units_ranked is not null

union all

select 'ranked_units.csv declares a size for SIPAS 2015: ' || units_ranked
from {{ ref('int_ranked_years') }}
where indicator_code = 'sipas' and level = 'province' and year = 2015
