-- Grain: indicator x level x year x unit x component, for the ranked indicators: each figure with
-- its resolved rank (int_resolved_ranks: published, or computed from a complete table, and where
-- it came from), its rank band where intervals exist (int_rank_bands), the units ranked, the
-- percentile, and the change against the previous ranked year of the same series (a component
-- whose definition changed, seeds/series_breaks.csv, starts a new one).
with ranked as (
    select * from {{ ref('int_resolved_ranks') }}
),
bands as (
    select * from {{ ref('int_rank_bands') }}
),
ranked_years as (
    select distinct indicator_code, level, component_code, year, series_first_year from ranked where rank is not null
),
previous_year as (
    select indicator_code, level, component_code, year,
           lag(year) over (partition by indicator_code, level, component_code, series_first_year
                           order by year) as previous_ranked_year
    from ranked_years
)
select
    f.indicator_code || ':' || f.level || ':' || f.unit_key || ':' || f.component_code || ':' || f.year as ranking_id,
    f.indicator_code,
    f.level,
    f.year,
    f.unit_key,
    f.unit_name,
    f.component_code,
    f.value as score,
    f.value_2dp as score_2dp,
    f.ci_low,
    f.ci_high,
    f.standard_error,
    r.rank,
    r.rank_source,
    b.rank_best::integer as rank_best,
    b.rank_worst::integer as rank_worst,
    r.units_ranked,
    -- "? " where the number of units ranked is recorded nowhere the warehouse reads (SIPAS 2015)
    case when r.rank is not null then r.rank || ' of ' || coalesce(r.units_ranked::varchar, '?') end as rank_label,
    f.tier,
    r.table_is_complete,
    case when r.table_is_complete and r.rank is not null and r.units_ranked > 1
         then {{ round_to('100.0 * (r.units_ranked - r.rank) / (r.units_ranked - 1)', 1) }} end as percentile,
    r.series_first_year,
    p.previous_ranked_year,
    prev.rank as previous_rank,
    prev.units_ranked as previous_units_ranked,
    -- no change against (or from) a table of unknown size: "3rd of ?" to "5th of 63" is no move of 2
    case when r.units_ranked is not null and prev.units_ranked is not null
         then (prev.rank - r.rank)::integer end as rank_change,
    f.rank_from_wording,
    f.rank_derived,
    f.rank_from_order_of_listing,
    f.has_conflict,
    f.value_source_type,
    f.value_publication_id,
    f.value_source_url,
    f.rank_publication_id,
    f.rank_source_type,
    f.rank_source_url,
    c.current_province_key
from ranked as r
join {{ ref('int_indicator_scores') }} as f
    on f.indicator_code = r.indicator_code and f.level = r.level and f.year = r.year
   and f.component_code = r.component_code and f.unit_key = r.unit_key
left join bands as b
    on b.indicator_code = r.indicator_code and b.level = r.level and b.year = r.year
   and b.component_code = r.component_code and b.unit_key = r.unit_key
left join previous_year as p
    on p.indicator_code = r.indicator_code and p.level = r.level and p.component_code = r.component_code
   and p.year = r.year
left join ranked as prev
    on prev.indicator_code = r.indicator_code and prev.level = r.level and prev.component_code = r.component_code
   and prev.unit_key = r.unit_key and prev.year = p.previous_ranked_year and r.rank is not null
left join {{ ref('int_province_current') }} as c on r.level = 'province' and c.province_key = r.unit_key
