-- Grain: indicator x level x unit x component x year: one preferred figure per fact (served as
-- marts.fct_indicator_scores; fct_rankings, the table coverage and the aggregates read it here).
-- Preference rule (documented in the README): the value comes from the most authoritative
-- source that printed one: the publisher's own file, then the publisher's site or report, then
-- a government portal, then news, then secondary copies; among publisher files the one the
-- catalogue prefers (a year's own file over a panel, a re-issued panel over the one it replaces:
-- dim_publication.preference); among equals the most precise printing;
-- then one not flagged low-reliability or derived; then the publication id (stable tie-break).
-- The published rank is chosen the same way among sources that printed a rank, preferring a
-- rank printed as a number over one read from wording ("came last") or derived ("up 2 places").
with obs as (  -- only what the pick needs: lineage that is the publication's own is joined after it
    select indicator_code, level, unit_key, component_code, year, publication_id,
           value, value_decimals, value_status, ci_low, ci_high, standard_error, published_rank, tier,
           source_type, source_priority, publication_preference,
           flag_low_reliability, flag_derived, flag_word_rank, flag_order_of_listing,
           unit_name, unit_name_as_published, component_name_as_published, source_location
    from {{ ref('int_observations') }}
    where value is not null or published_rank is not null or value_status in ('not_scored', 'no_data')
),
lineage as (  -- one row per publication (tested on int_observations: lineage_is_per_publication)
    select publication_id, {{ any_of('source_url') }} as source_url, {{ any_of('source_file') }} as source_file,
           {{ any_of('source_sha256') }} as source_sha256, {{ any_of('landed_sha256') }} as landed_sha256
    from {{ ref('int_observations') }}
    group by publication_id
),
value_pick as (  -- the counts share the pick's partition: one pass, no aggregate joined back
    select *,
           row_number() over (fact order by (value is null), source_priority, publication_preference,
                                   coalesce(value_decimals, 99) desc, flag_low_reliability, flag_derived,
                                   publication_id) as pick,
           count(*) over fact as observations,
           count(value) over fact as observations_with_value,
           -- the rank's pick in the same pass (no second sort of every fact, no join back): the
           -- first by source_priority, publication_preference (nulls last), flag_derived,
           -- flag_word_rank, flag_order_of_listing, publication_id among rows with a rank
{{ rank_pick() }}
    from obs
    window fact as (partition by indicator_code, level, unit_key, component_code, year)
),
conflicted as (
    select distinct indicator_code, level, unit_key, component_code, year
    from {{ ref('int_observation_conflicts') }}
)
select
    v.indicator_code || ':' || v.level || ':' || v.unit_key || ':' || v.component_code || ':' || v.year as score_id,
    v.indicator_code,
    v.level,
    v.year,
    v.unit_key,
    v.unit_name,
    v.component_code,
    v.value,
    {{ round_to('v.value', 2) }}::decimal(9, 2) as value_2dp,
    v.value_decimals,
    v.value_status,
    v.ci_low,
    v.ci_high,
    v.standard_error,
    {{ rank_field('v', 'published_rank') }} as published_rank,
    v.tier,
    v.observations,
    v.observations_with_value,
    k.indicator_code is not null as has_conflict,
    v.publication_id as value_publication_id,
    v.source_type as value_source_type,
    l.source_url as value_source_url,
    l.source_file,
    v.source_location,
    l.source_sha256,
    l.landed_sha256,
    {{ rank_field('v', 'rank_publication_id') }} as rank_publication_id,
    {{ rank_field('v', 'rank_source_type') }} as rank_source_type,
    rl.source_url as rank_source_url,
    {{ rank_field('v', 'rank_from_wording') }} as rank_from_wording,
    {{ rank_field('v', 'rank_derived') }} as rank_derived,
    {{ rank_field('v', 'rank_from_order_of_listing') }} as rank_from_order_of_listing,
    v.unit_name_as_published,
    v.component_name_as_published
from value_pick as v
left join conflicted as k using (indicator_code, level, unit_key, component_code, year)
join lineage as l on l.publication_id = v.publication_id
left join lineage as rl on rl.publication_id = {{ rank_field('v', 'rank_publication_id') }}
where v.pick = 1
