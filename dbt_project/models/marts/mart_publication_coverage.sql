-- Grain: publication x indicator x level x year x component: what each source covers.
with ranked as (
    select indicator_code as indicator, level, year, units_ranked from {{ ref('int_ranked_years') }}
)
select
    o.publication_id, p.title, p.source_type, p.citation_url,
    o.indicator_code, o.level, o.year, o.component_code,
    count(o.value) as units_with_figure,
    count(o.published_rank) as units_with_rank,
    r.units_ranked,
    {{ round_to('count(o.value)::double precision / r.units_ranked', 4) }} as coverage
from {{ ref('int_observations') }} as o
join {{ ref('dim_publication') }} as p using (publication_id)
left join ranked as r on r.indicator = o.indicator_code and r.level = o.level and r.year = o.year
group by o.publication_id, p.title, p.source_type, p.citation_url, o.indicator_code, o.level, o.year,
         o.component_code, r.units_ranked
