-- Every row of the publishers' workbooks (the staging models of var('publisher_staging_models'),
-- which share their columns), with its publication's citation: the scores, the sub-indicators
-- and the published Min/Median/Max rows.
with rows as (
    {{ publisher_file_rows() }}
)
select
    r.*,
    r.sheet || '!' || r.cell as source_location,
    p.source_type,
    p.citation_url as source_url,
    p.preference as publication_preference
from rows as r
join {{ ref('stg_catalogue__publications') }} as p using (publication_id)
