-- Which province became which: Hà Tây into Hà Nội (2008-08-01), and all 63 provinces into the
-- 34 of 2025-07-01 (an unchanged province maps to itself).
select old_key, new_key, effective_date, basis
from {{ ref('province_successors') }}
