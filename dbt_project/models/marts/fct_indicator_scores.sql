-- Grain: one row per province x indicator x component x year, with its lineage.
select
    indicator_code || ':' || level || ':' || province_key || ':' || component_code || ':' || year as score_id,
    indicator_code,
    level,
    year,
    province_key,
    province_code,
    province_name,
    component_code,
    value,
    round(value, 2) as value_2dp,
    value_status,
    published_rank,
    tier,
    unit_name_as_published,
    component_name_as_published,
    publication_id,
    source_file,
    source_sha256,
    sheet,
    cell,
    landed_sha256
from {{ ref('int_scores_resolved') }}
