-- Grain: indicator x level x year x component x unit, for the ranked indicators (seeds/indicators.csv
-- is_ranked), provinces and ministries: each figure's resolved rank. rank is the publisher's rank;
-- where a publisher printed no rank for a unit but the warehouse holds the table completely (PCI
-- sub-indices, PAPI dimensions and totals from the workbooks), it is computed the way publishers
-- rank: by score, ties share a rank and the next rank is skipped, and only where every rank printed
-- for that table (a news page's "Bến Tre first") agrees with the scores' order. rank_source says
-- which (and order_of_listing for a place read from the order a page lists units in, not a printed
-- rank), and says publisher_order where the publisher printed the table sorted on the score (VCCI's
-- 2008-2016 sub-index columns, seeds/publisher_sorted_tables.csv). No rank is ever computed from a
-- partial table. series_first_year: a component whose definition changed (seeds/series_breaks.csv)
-- starts a new series. Narrow on purpose: fct_rankings joins the rest of each fact once, at the end.
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
    group by indicator_code, level, year, component_code
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
)
select * from ranked
