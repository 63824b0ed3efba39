-- Every province that ever existed -> the province it belongs to today, following the
-- successor chain (Hà Tây -> Hà Nội in 2008; 63 -> 34 provinces on 2025-07-01).
with recursive chain as (
    select province_key as origin_key, province_key as current_key, 0 as steps
    from {{ ref('provinces') }}
    union all
    select chain.origin_key, s.new_key, chain.steps + 1
    from chain
    join {{ ref('province_successors') }} as s
        on s.old_key = chain.current_key and s.new_key <> s.old_key
    where chain.steps < 5
)
select province_key, current_province_key
from (
    select origin_key as province_key, current_key as current_province_key,
           row_number() over (partition by origin_key order by steps desc) as last_step
    from chain
) as ordered
where last_step = 1
