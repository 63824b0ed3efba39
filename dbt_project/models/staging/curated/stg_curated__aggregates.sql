-- Published aggregates ("average of 17 ministries", "national average", a region's average).
select
    publication_id,
    indicator as indicator_code,
    level,
    year,
    unit_name as label_as_published,
    aggregate_kind,
    aggregate_scope,
    aggregate_units,
    component_code,
    value,
    value_text,
    value_decimals,
    flag_word_rank or flag_order_of_listing or flag_derived or flag_conflict or flag_low_reliability as is_flagged,
    note,
    source_url,
    source_type,
    source_file,
    line
from {{ source('curated', 'observations') }}
where row_kind = 'aggregate'
