-- The source catalogue as a table: every publication (publisher file or curated page), its
-- publisher, licence, citation URL and how authoritative it is.
select p.*, t.priority as source_priority, t.description as source_type_description
from {{ ref('stg_catalogue__publications') }} as p
join {{ ref('source_types') }} as t using (source_type)
