-- Grain: indicator x level x year x unit x component, for the ranked indicators
-- (seeds/indicators.csv is_ranked). rank is the publisher's rank; where a publisher printed no
-- rank for a unit but the warehouse holds the table completely (PCI sub-indices, PAPI
-- dimensions and totals from the workbooks), it is computed the way publishers rank: by score,
-- ties share a rank and the next rank is skipped, and only where every rank printed for that
-- table (a news page's "Bến Tre first") agrees with the scores' order. rank_source says which (and
-- order_of_listing for a place read from the order a page lists units in, not a printed rank), and says
-- publisher_order where the publisher printed the table sorted on the score (VCCI's 2008-2016
-- sub-index columns, seeds/publisher_sorted_tables.csv). No rank is ever computed from a partial
-- table.
-- Rank band: where the publisher gives every ranked unit a 95% interval, the best and worst rank
-- the unit could hold given the intervals: best = 1 + units whose interval lies wholly above
-- this unit's; worst = 1 + other units whose interval reaches this unit's low end or above.
-- Series: a component whose definition changed (seeds/series_breaks.csv: the PAPI total from
-- 2018) starts a new series; the previous rank and rank change are looked up only within one.
with ranked_indicators as (
    select indicator_code from {{ ref('indicators') }} where is_ranked
),
scores as (  -- what ranking needs: narrow rows through the windows and joins; the rest of each fact
                -- is joined once, at the end
    select indicator_code, level, year, component_code, unit_key, value, published_rank, ci_low, ci_high,
           rank_from_order_of_listing
    from {{ ref('int_indicator_scores') }}
    where level in ('province', 'ministry') and indicator_code in (select indicator_code from ranked_indicators)
),
tables as (
    select indicator_code, level, year, component_code, is_complete, units_with_rank, units_no_data
    from {{ ref('int_table_coverage') }}
),
sorted_tables as (
    select t.indicator_code, t.component_kind, y.year::integer as year
    from {{ ref('publisher_sorted_tables') }} as t, generate_series(t.year_from, t.year_to) as y(year)
),
score_order as (
    select s.indicator_code, s.level, s.year, s.component_code, s.unit_key, s.published_rank,
           rank() over (partition by s.indicator_code, s.level, s.year, s.component_code
                        order by s.value desc) as computed_rank
    from scores as s
    join tables as t using (indicator_code, level, year, component_code)
    where t.is_complete and s.value is not null
),
consistent_tables as (  -- complete tables whose printed ranks (if any) all follow the scores
    select indicator_code, level, year, component_code
    from score_order
    group by all
    having count(*) filter (where published_rank is not null and published_rank <> computed_rank) = 0
),
computed as (
    select o.indicator_code, o.level, o.year, o.component_code, o.unit_key, o.computed_rank
    from score_order as o
    join consistent_tables using (indicator_code, level, year, component_code)
),
ranked as (
    select
        s.indicator_code, s.level, s.year, s.component_code, s.unit_key, s.ci_low, s.ci_high,
        coalesce(s.published_rank, c.computed_rank)::integer as rank,
        case when s.published_rank is not null and s.rank_from_order_of_listing then 'order_of_listing'
             when s.published_rank is not null then 'published'
             when c.computed_rank is not null and st.year is not null then 'publisher_order'
             when c.computed_rank is not null then 'computed_from_complete_table' end as rank_source,
        (y.units_ranked - coalesce(t.units_no_data, 0))::integer as units_ranked,  -- less units printed as no data
        coalesce(t.is_complete, false) as table_is_complete,
        {{ series_first_year('s.indicator_code', 's.component_code', 's.year') }} as series_first_year
    from scores as s
    left join computed as c using (indicator_code, level, year, component_code, unit_key)
    left join tables as t using (indicator_code, level, year, component_code)
    left join {{ ref('int_ranked_years') }} as y using (indicator_code, level, year)
    left join {{ ref('components') }} as k on k.indicator = s.indicator_code and k.component_code = s.component_code
    left join sorted_tables as st
        on st.indicator_code = s.indicator_code and st.year = s.year and st.component_kind = k.kind
),
interval_tables as (  -- tables where every ranked unit has a published interval
    select indicator_code, level, year, component_code
    from ranked where rank is not null
    group by all
    having count(*) = count(ci_low) and count(*) = count(ci_high)
),
bands as (
    select a.indicator_code, a.level, a.year, a.component_code, a.unit_key,
           1 + count(*) filter (where b.ci_low > a.ci_high) as rank_best,
           1 + count(*) filter (where b.unit_key <> a.unit_key and b.ci_high >= a.ci_low) as rank_worst
    from ranked as a
    join interval_tables as i using (indicator_code, level, year, component_code)
    join ranked as b using (indicator_code, level, year, component_code)
    where a.rank is not null and b.rank is not null
    group by all
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
         then round(100.0 * (r.units_ranked - r.rank) / (r.units_ranked - 1), 1) end as percentile,
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
