-- Vietnamese text has two Unicode forms; every text that reaches people is in NFC, so that
-- `where tier = 'Rất tốt'` finds every year (the publishers' files mix NFD and NFC).
select 'fct_observations' as model, observation_id as id, tier as text_value
from {{ ref('fct_observations') }}
where tier <> {{ nfc('tier') }}
   or unit_name <> {{ nfc('unit_name') }}
   or unit_name_as_published <> {{ nfc('unit_name_as_published') }}
   or component_name_as_published <> {{ nfc('component_name_as_published') }}
union all
select 'fct_rankings', unit_key || ' ' || year, tier
from {{ ref('fct_rankings') }}
where tier <> {{ nfc('tier') }} or unit_name <> {{ nfc('unit_name') }}
