-- Grain: indicator x province x year x sub-indicator: the survey indicators beneath each PCI
-- sub-index and PAPI dimension, with their unit of measure and full lineage (file, sheet, cell).
-- "KCDL" or a blank in the workbook is no_data (value null), never zero.
with rows as (
    select * from {{ ref('int_workbook_rows') }}
    where grain = 'subindicator' and row_kind = 'unit'
),
picked as (
    select *, row_number() over (
        partition by indicator_code, province_key, year, component_code
        order by (value is null), publication_preference, publication_id) as pick
    from rows
)
select
    p.indicator_code || ':' || p.province_key || ':' || p.component_code || ':' || p.year as subindicator_value_id,
    p.indicator_code,
    p.level,
    p.year,
    p.province_key as unit_key,
    u.unit_name,
    p.component_code as subindicator_code,
    d.parent_component_code,
    d.unit_of_measure,
    p.value,
    p.value_status,
    case when p.value is not null then rank() over (
        partition by p.indicator_code, p.level, p.year, p.component_code order by p.value desc nulls last) end
        as value_place,
    p.component_name_as_published as name_as_published,
    p.unit_name_as_published,
    p.publication_id,
    p.source_url,
    p.source_file,
    p.source_location,
    p.source_sha256,
    p.landed_sha256
from picked as p
join {{ ref('dim_subindicator') }} as d
    on d.indicator_code = p.indicator_code and d.subindicator_code = p.component_code
left join {{ ref('int_units') }} as u on u.level = p.level and u.unit_key = p.province_key
where p.pick = 1
