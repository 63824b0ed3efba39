-- Pairs of observations of the same fact whose sources disagree: values that differ beyond the
-- rounding of the less precise printing, or different published ranks.
with obs as (select * from {{ ref('int_observations') }})
select
    a.indicator_code, a.level, a.unit_key, a.component_code, a.year,
    'value' as conflict_kind,
    a.publication_id as publication_a, b.publication_id as publication_b,
    a.value as value_a, b.value as value_b,
    a.published_rank as rank_a, b.published_rank as rank_b,
    abs(a.value - b.value) as difference,
    {{ rounding_tolerance('a.value_decimals', 'b.value_decimals') }} as rounding_tolerance
from obs as a
join obs as b
    on a.indicator_code = b.indicator_code and a.level = b.level and a.unit_key = b.unit_key
   and a.component_code = b.component_code and a.year = b.year and a.publication_id < b.publication_id
where a.value is not null and b.value is not null
  and abs(a.value - b.value) > {{ rounding_tolerance('a.value_decimals', 'b.value_decimals') }}
union all
select
    a.indicator_code, a.level, a.unit_key, a.component_code, a.year,
    'rank',
    a.publication_id, b.publication_id,
    a.value, b.value,
    a.published_rank, b.published_rank,
    abs(a.published_rank - b.published_rank),
    0
from obs as a
join obs as b
    on a.indicator_code = b.indicator_code and a.level = b.level and a.unit_key = b.unit_key
   and a.component_code = b.component_code and a.year = b.year and a.publication_id < b.publication_id
where a.published_rank is not null and b.published_rank is not null and a.published_rank <> b.published_rank
