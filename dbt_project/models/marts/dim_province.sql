-- Provinces that appear in any publication, with GSO codes and validity dates.
select
    province_code,
    name_vi as province_name,
    official_name,
    name_ascii as province_name_ascii,
    valid_from,
    valid_to,
    seed_source
from {{ ref('provinces') }}
