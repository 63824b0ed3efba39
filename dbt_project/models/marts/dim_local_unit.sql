-- Departments and districts ranked by provincial indices (DDCI); districts were abolished on 2025-07-01.
select unit_key, name_vi as unit_name, kind as level, province_key, valid_from, valid_to, note
from {{ ref('local_units') }}
