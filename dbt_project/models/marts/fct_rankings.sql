-- Grain: indicator x level x year x unit x component, for the ranked indicators (PAR INDEX,
-- SIPAS, PCI, PAPI). rank is the publisher's rank; where a publisher printed no ranks for a
-- table but the warehouse holds that table completely (PCI sub-indices, PAPI dimensions from
-- the workbooks), it is computed the way publishers rank: by score, ties share a rank and the
-- next rank is skipped (rank_source says which). No rank is ever computed from a partial table.
with scores as (
    select * from {{ ref('fct_indicator_scores') }}
    where level in ('province', 'ministry') and indicator_code in ('par_index', 'sipas', 'pci', 'papi')
),
tables as (
    select indicator_code, level, year, component_code, is_complete, units_with_rank
    from {{ ref('mart_coverage') }}
),
computed as (
    select s.indicator_code, s.level, s.year, s.component_code, s.unit_key,
           rank() over (partition by s.indicator_code, s.level, s.year, s.component_code
                        order by s.value desc) as computed_rank
    from scores as s
    join tables as t using (indicator_code, level, year, component_code)
    where t.is_complete and t.units_with_rank = 0 and s.value is not null
),
ranked as (
    select
        s.*,
        coalesce(s.published_rank, c.computed_rank)::integer as rank,
        case when s.published_rank is not null then 'published'
             when c.computed_rank is not null then 'computed_from_complete_table' end as rank_source,
        y.units_ranked,
        coalesce(t.is_complete, false) as table_is_complete
    from scores as s
    left join computed as c using (indicator_code, level, year, component_code, unit_key)
    left join tables as t using (indicator_code, level, year, component_code)
    left join {{ ref('int_ranked_years') }} as y using (indicator_code, level, year)
),
ranked_years as (
    select distinct indicator_code, level, component_code, year from ranked where rank is not null
),
previous_year as (
    select indicator_code, level, component_code, year,
           lag(year) over (partition by indicator_code, level, component_code order by year) as previous_ranked_year
    from ranked_years
)
select
    r.indicator_code || ':' || r.level || ':' || r.unit_key || ':' || r.component_code || ':' || r.year as ranking_id,
    r.indicator_code,
    r.level,
    r.year,
    r.unit_key,
    r.unit_name,
    r.component_code,
    r.value as score,
    r.value_2dp as score_2dp,
    r.rank,
    r.rank_source,
    r.units_ranked,
    case when r.rank is not null and r.units_ranked is not null
         then r.rank || ' of ' || r.units_ranked end as rank_label,
    r.tier,
    r.table_is_complete,
    case when r.table_is_complete and r.rank is not null and r.units_ranked > 1
         then round(100.0 * (r.units_ranked - r.rank) / (r.units_ranked - 1), 1) end as percentile,
    p.previous_ranked_year,
    prev.rank as previous_rank,
    (prev.rank - r.rank)::integer as rank_change,
    r.rank_from_wording,
    r.rank_derived,
    r.rank_from_order_of_listing,
    r.has_conflict,
    r.value_source_type,
    r.value_publication_id,
    r.rank_publication_id,
    c.current_province_key
from ranked as r
left join previous_year as p using (indicator_code, level, component_code, year)
left join ranked as prev
    on prev.indicator_code = r.indicator_code and prev.level = r.level and prev.component_code = r.component_code
   and prev.unit_key = r.unit_key and prev.year = p.previous_ranked_year and r.rank is not null
left join {{ ref('int_province_current') }} as c on r.level = 'province' and c.province_key = r.unit_key
