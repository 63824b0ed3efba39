-- Grain: indicator x level x unit x component x year x publication. Every figure every source
-- printed, kept side by side; fct_indicator_scores picks one per fact.
select
    indicator_code || ':' || level || ':' || unit_key || ':' || component_code || ':' || year || ':' || publication_id
        as observation_id,
    indicator_code, level, year, unit_key, unit_name, component_code,
    value, value_decimals, value_status, published_rank, tier,
    flag_word_rank, flag_order_of_listing, flag_derived, flag_conflict, flag_low_reliability, note,
    unit_name_as_published, component_name_as_published,
    publication_id, source_type, source_priority, source_url, source_file, source_sha256, source_location,
    landed_sha256
from {{ ref('int_observations') }}
