-- The six socio-economic regions of the General Statistics Office (seeds/regions.csv). Each
-- province's region through time is in dim_province (region_vi, region_en); a region's published
-- average is in mart_published_aggregates, beside the warehouse's own mean of its provinces.
select
    r.region_code,
    r.name_vi as region_name,
    r.name_en as region_name_en,
    r.sort_order,
    count(p.province_key) filter (where coalesce(p.valid_from, date '1900-01-01') <= date '2008-08-01'
                                    and coalesce(p.valid_to, date '2999-12-31') >= date '2025-06-30') as provinces_2008_2025,
    count(p.province_key) filter (where p.valid_to is null) as provinces_from_2025
from {{ ref('regions') }} as r
left join {{ ref('provinces') }} as p on p.region_vi = r.name_vi
group by r.region_code, r.name_vi, r.name_en, r.sort_order
