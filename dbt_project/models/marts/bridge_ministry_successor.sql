-- One-to-many: a ministry of before 2025-03-01 and each body that took over all or part of it.
select old_key, new_key, effective_date, share, basis
from {{ ref('ministry_successors') }}
