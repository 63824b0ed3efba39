-- One row per figure as published: renamed and typed, nothing else.
select
    publication_id,
    indicator as indicator_code,
    level,
    cast(year as integer) as year,
    unit_name as unit_name_as_published,
    unit_code as province_key,
    component_code,
    component_name as component_name_as_published,
    cast(value as double precision) as value,
    value_status,
    cast(rank as integer) as published_rank,
    tier,
    source_file,
    source_sha256,
    sheet,
    cell,
    grain,  -- score (index, sub-index, dimension) | subindicator (a survey indicator below them)
    row_kind,  -- unit | aggregate (a published Min / Median / Max row)
    cast(ci_low as double precision) as ci_low,
    cast(ci_high as double precision) as ci_high,
    cast(standard_error as double precision) as standard_error,
    landed_sha256
from {{ source('undp', 'papi_scores') }}
