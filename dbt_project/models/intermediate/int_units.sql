-- Every rankable unit of every level, with its validity, in one shape.
select 'province' as level, province_key as unit_key, name_vi as unit_name, valid_from, valid_to
from {{ ref('provinces') }}
union all
select 'ministry', ministry_key, name_vi, valid_from, valid_to
from {{ ref('ministries') }}
union all
select kind, unit_key, name_vi, valid_from, valid_to
from {{ ref('local_units') }}
