-- The survey indicators below a sub-index (PCI) or dimension (PAPI), called sub-indicators here
-- because 'indicator' already names PCI, PAPI and the others. One row per stable code
-- (seeds/subindicators.csv, written from the workbooks by scripts/make_subindicator_seeds.py):
-- a code is shared across years where the publisher's question (column header) is the same, and
-- a reworded question gets a new one. unit_of_measure says how to read the value; unit_basis
-- whether that was read from the header ('(%)', 'days', '1=...; 5=...') or from the values.
select
    s.indicator as indicator_code,
    s.subindicator_code,
    s.parent_code as parent_component_code,
    c.name_en as parent_name_en,
    s.name_en,
    s.unit_of_measure,
    s.unit_basis,
    nullif(s.direction, '') as direction,
    s.first_year,
    s.last_year,
    (select count(distinct x.year) from {{ ref('subindicator_crosswalk') }} as x
     where x.indicator = s.indicator and x.subindicator_code = s.subindicator_code)::integer as years_published
from {{ ref('subindicators') }} as s
left join {{ ref('components') }} as c on c.indicator = s.indicator and c.component_code = s.parent_code
