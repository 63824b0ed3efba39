-- Every province that appears in a publication since 2005, through time: Hà Tây until
-- 2008-07-31, the 63 provinces of 2008-2025, the 34 from 2025-07-01. province_key tells apart
-- units that share a GSO code across the 2025 reform (79 = old Hồ Chí Minh City, 79-2025 = the
-- merged one); for the 63-province era the key is the GSO code.
select
    p.province_key,
    p.province_code,
    p.name_vi as province_name,
    p.official_name,
    p.name_ascii as province_name_ascii,
    p.name_en as province_name_en,
    p.region_vi,
    p.region_en,
    p.valid_from,
    p.valid_to,
    p.era,
    p.valid_to is null as is_current,
    c.current_province_key,
    t.name_vi as current_province_name,
    p.seed_source
from {{ ref('provinces') }} as p
join {{ ref('int_province_current') }} as c using (province_key)
join {{ ref('provinces') }} as t on t.province_key = c.current_province_key
