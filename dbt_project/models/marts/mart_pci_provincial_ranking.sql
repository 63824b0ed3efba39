-- Grain: one row per province and PCI year: the headline score, VCCI's published rank and
-- tier, how many provinces VCCI ranked that year, and the change against the previous year.
with overall as (
    select f.year, f.unit_key as province_key, d.province_code, f.unit_name as province_name,
           f.unit_name_as_published, f.value, f.published_rank, f.tier, f.value_publication_id,
           f.source_file, f.source_location
    from {{ ref('fct_indicator_scores') }} as f
    join {{ ref('dim_province') }} as d on d.province_key = f.unit_key
    where f.indicator_code = 'pci' and f.level = 'province' and f.component_code = 'overall'
),
ranked as (
    select indicator, y.year, units_ranked
    from {{ ref('ranked_units') }}, generate_series(year_from, year_to) as y(year)
    where indicator = 'pci' and level = 'province'
),
with_previous as (
    select o.*, r.units_ranked as provinces_ranked,
        lag(o.year) over (partition by o.province_key order by o.year) as previous_year,
        lag(o.published_rank) over (partition by o.province_key order by o.year) as previous_rank
    from overall as o
    left join ranked as r using (year)
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
    value_publication_id as publication_id,
    source_file,
    source_location
from with_previous
