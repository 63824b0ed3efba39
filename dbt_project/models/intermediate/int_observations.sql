-- Every observation of every source in one shape: the publishers' workbooks (full precision)
-- and the curated pages. Grain: indicator x level x unit x component x year x publication.
with workbook_rows as (
    {{ publisher_file_rows() }}
),
workbooks as (
    select publication_id, indicator_code, level, year, unit_name_as_published, province_key as unit_key,
           component_code, component_name_as_published, value, value_status, published_rank, tier,
           null::integer as value_decimals, false as flag_word_rank, false as flag_order_of_listing,
           false as flag_derived, false as flag_conflict, false as flag_low_reliability, null as note,
           ci_low, ci_high, standard_error,
           source_file, source_sha256, sheet || '!' || cell as source_location, landed_sha256
    from workbook_rows
    where grain = 'score' and row_kind = 'unit'  -- sub-indicators and Min/Median/Max rows have their own marts
),
curated as (
    select publication_id, indicator_code, level, year, unit_name_as_published, unit_key,
           component_code, component_name_as_published, value,
           case when value is null then 'not_printed' else 'published' end as value_status,
           published_rank, null as tier, value_decimals, flag_word_rank, flag_order_of_listing, flag_derived,
           flag_conflict, flag_low_reliability, note, null::double precision as ci_low, null::double precision as ci_high,
           null::double precision as standard_error, source_file, source_sha256,
           'line ' || line as source_location, landed_sha256
    from {{ ref('stg_curated__observations') }}
),
unioned as (
    select * from workbooks
    {{ union_all_by_name() }}
    select * from curated
)
select
    o.*,
    p.source_type,
    t.priority as source_priority,
    p.preference as publication_preference,
    p.citation_url as source_url,
    u.unit_name,
    (u.unit_key is not null
        and {{ unit_existed_in('u', 'o.year') }}) as unit_valid
from unioned as o
join {{ ref('stg_catalogue__publications') }} as p using (publication_id)
join {{ ref('source_types') }} as t on t.source_type = p.source_type
left join {{ ref('int_units') }} as u on u.level = o.level and u.unit_key = o.unit_key
