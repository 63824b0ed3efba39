-- Grain: one row per province and PCI year: the headline score, VCCI's published rank and
-- tier, how many provinces VCCI ranked that year, and the change against the previous ranked
-- year. A convenience view of fct_rankings for the most asked question.
select
    r.year,
    r.unit_key as province_key,
    d.province_code,
    r.unit_name as province_name,
    r.score,
    r.score_2dp,
    r.rank,
    r.units_ranked as provinces_ranked,
    r.rank_label,
    r.tier,
    r.previous_ranked_year,
    r.previous_rank,
    r.rank_change,
    r.rank_source,
    r.value_publication_id as publication_id
from {{ ref('fct_rankings') }} as r
join {{ ref('dim_province') }} as d on d.province_key = r.unit_key
where r.indicator_code = 'pci' and r.level = 'province' and r.component_code = 'overall'
