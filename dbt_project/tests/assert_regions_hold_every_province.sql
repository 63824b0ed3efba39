-- The six regions hold the 63 provinces of 2008-2025 and the 34 since the 2025 reform, each once
-- (a province whose region no seed names would be missing from the sums).
select sum(provinces_2008_2025) as provinces_2008_2025, sum(provinces_from_2025) as provinces_from_2025
from {{ ref('dim_region') }}
having sum(provinces_2008_2025) <> 63 or sum(provinces_from_2025) <> 34
