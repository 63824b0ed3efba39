-- Grain: one row per province and PCI year: the headline score, VCCI's published rank and
-- tier, how many provinces were ranked that year, and the change against the previous year.
with overall as (
    select year, province_key, province_code, province_name, unit_name_as_published, value, published_rank, tier,
           source_file, cell
    from {{ ref('fct_indicator_scores') }}
    where indicator_code = 'pci' and component_code = 'overall'
),
counted as (
    select *, count(*) over (partition by year) as provinces_ranked
    from overall
),
with_previous as (
    select *,
        lag(year) over (partition by province_key order by year) as previous_year,
        lag(published_rank) over (partition by province_key order by year) as previous_rank
    from counted
)
select
    year,
    province_key,
    province_code,
    province_name,
    unit_name_as_published,
    value as score,
    round(value, 2) as score_2dp,
    published_rank as rank,
    provinces_ranked,
    tier,
    case when previous_year = year - 1 then previous_rank end as previous_rank,
    case when previous_year = year - 1 then previous_rank - published_rank end as rank_change,
    source_file,
    cell
from with_previous
