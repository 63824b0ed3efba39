-- Grain: province x year. Every indicator's headline score and rank side by side, with flags
-- saying which the warehouse holds for that province and year.
{% set indicators = ['pci', 'papi', 'par_index', 'sipas'] %}
with r as (
    select * from {{ ref('fct_rankings') }} where level = 'province' and component_code = 'overall'
),
keys as (select distinct unit_key, year from r)
select
    k.year,
    k.unit_key as province_key,
    d.province_code,
    d.province_name,
    d.current_province_key,
{% for ind in indicators %}
    max(r.score) filter (where r.indicator_code = '{{ ind }}') as {{ ind }}_score,
    max(r.rank) filter (where r.indicator_code = '{{ ind }}')::integer as {{ ind }}_rank,
    max(r.rank_label) filter (where r.indicator_code = '{{ ind }}') as {{ ind }}_rank_label,
    count(r.score) filter (where r.indicator_code = '{{ ind }}') > 0 as has_{{ ind }}_score,
{% endfor %}
    max(r.tier) filter (where r.indicator_code = 'pci') as pci_tier
from keys as k
join r on r.unit_key = k.unit_key and r.year = k.year
join {{ ref('dim_province') }} as d on d.province_key = k.unit_key
group by k.year, k.unit_key, d.province_code, d.province_name, d.current_province_key
