select
    indicator_code,
    name_en,
    name_vi,
    publisher,
    level,
    scale_min,
    scale_max,
    first_year,
    unit_of_measure
from {{ ref('indicators') }}
