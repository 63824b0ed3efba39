-- Every row of the publishers' workbooks (PCI and PAPI staging have the same columns), with its
-- publication's citation: the scores, the sub-indicators and the published Min/Median/Max rows.
with rows as (
    select * from {{ ref('stg_vcci__pci_scores') }}
    union all by name
    select * from {{ ref('stg_undp__papi_scores') }}
)
select
    r.*,
    r.sheet || '!' || r.cell as source_location,
    p.source_type,
    p.citation_url as source_url,
    p.preference as publication_preference
from rows as r
join {{ ref('stg_catalogue__publications') }} as p using (publication_id)
