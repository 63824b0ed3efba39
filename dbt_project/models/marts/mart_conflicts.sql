-- Every fact where sources disagree beyond rounding (value) or print different ranks, with both
-- figures and both citations, and which side the preference rule picked.
select
    c.indicator_code, c.level, c.year, c.unit_key, u.unit_name, c.component_code, c.conflict_kind,
    c.value_a, c.rank_a, c.publication_a, pa.source_type as source_type_a, pa.citation_url as source_url_a,
    c.value_b, c.rank_b, c.publication_b, pb.source_type as source_type_b, pb.citation_url as source_url_b,
    c.difference,
    c.rounding_tolerance,
    case c.conflict_kind
        when 'value' then case f.value_publication_id when c.publication_a then 'a' when c.publication_b then 'b' end
        else case f.rank_publication_id when c.publication_a then 'a' when c.publication_b then 'b' end
    end as preferred_side
from {{ ref('int_observation_conflicts') }} as c
join {{ ref('int_units') }} as u on u.level = c.level and u.unit_key = c.unit_key
join {{ ref('dim_publication') }} as pa on pa.publication_id = c.publication_a
join {{ ref('dim_publication') }} as pb on pb.publication_id = c.publication_b
join {{ ref('fct_indicator_scores') }} as f
    on f.indicator_code = c.indicator_code and f.level = c.level and f.unit_key = c.unit_key
   and f.component_code = c.component_code and f.year = c.year
