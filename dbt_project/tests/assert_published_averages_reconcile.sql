-- A published national average (or median) of a table the warehouse holds completely must equal
-- the warehouse's own average (median) of that table, within rounding.
select *
from {{ ref('mart_published_aggregates') }}
where reconciles = false and not is_flagged
