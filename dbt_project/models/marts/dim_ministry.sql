-- Ministries and ministry-level agencies ranked in the ministerial PAR INDEX since 2012, and
-- the bodies that succeeded them in the 2025-03-01 reorganisation.
select ministry_key, name_vi as ministry_name, name_en as ministry_name_en, kind, valid_from, valid_to,
       valid_to is null as is_current, note
from {{ ref('ministries') }}
