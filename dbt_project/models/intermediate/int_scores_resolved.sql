-- Figures joined to the province that existed in their year. A figure whose province was not
-- valid that year (for example Hà Tây after 2008) gets province_valid = false, and a test fails.
select
    s.*,
    p.province_code,
    p.name_vi as province_name,
    (p.province_key is not null
        and (p.valid_from is null or extract(year from p.valid_from) <= s.year)
        and (p.valid_to is null or extract(year from p.valid_to) >= s.year)) as province_valid
from {{ ref('int_scores_unioned') }} as s
left join {{ ref('provinces') }} as p using (province_key)
