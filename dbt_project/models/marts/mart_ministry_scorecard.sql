-- Grain: ministry x year. The ministerial PAR INDEX with its two part-scores and its rank.
with r as (
    select * from {{ ref('fct_rankings') }} where level = 'ministry' and indicator_code = 'par_index'
)
select
    r.year,
    r.unit_key as ministry_key,
    m.ministry_name,
    m.ministry_name_en,
    max(r.score) filter (where r.component_code = 'overall') as par_index_score,
    max(r.rank) filter (where r.component_code = 'overall')::integer as par_index_rank,
    max(r.rank_label) filter (where r.component_code = 'overall') as par_index_rank_label,
    max(r.score) filter (where r.component_code = 'appraisal_score') as appraisal_score,
    max(r.score) filter (where r.component_code = 'survey_score') as survey_score,
    count(r.score) filter (where r.component_code = 'overall') > 0 as has_par_index_score,
    count(r.score) filter (where r.component_code in ('appraisal_score', 'survey_score')) = 2 as has_part_scores
from r
join {{ ref('dim_ministry') }} as m on m.ministry_key = r.unit_key
group by r.year, r.unit_key, m.ministry_name, m.ministry_name_en
