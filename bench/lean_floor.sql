-- The lean floor (issue #21): the core work of the marts, written by hand as plainly as it can be,
-- over the build's own inputs, in one bare DuckDB process (bench/lean_floor.py runs it, with the
-- memory limit dbt has). Where today's floor (bench/floor.py) times the compiled SQL of the dbt
-- project, this times what the same results need at the least: the gap between the two is what the
-- models' shape costs, the gap between dbt and the floor is what dbt costs.
--
-- Inputs, as the build reads them:
--   {publisher_files}  the tidy-schema Parquet files of the publishers (GOVWH_PARSED_DIR/<folder>/*.parquet,
--                      every folder but curated/ and catalogue/: pci, papi, and the harness's synthetic one)
--   {parsed}           GOVWH_PARSED_DIR (curated/*.parquet, catalogue/publications.parquet)
--   reference.*        the dbt project's seeds, copied from the build's DuckDB file before the clock starts
-- (the runner substitutes the two {placeholders}; nothing else is templated).
--
-- Layout: `-- @step <table>` starts one timed statement (a CREATE TABLE of a result table);
-- `-- @check <name>` starts one key check, a query that must return no row. Nothing else here
-- is executed. Results go to the schema `lean`.
--
-- What it keeps of the marts' rules, and what it drops, is said at each step. In short: the same
-- preferred figure, published rank, computed rank, percentile, rank change, streak lengths and
-- per-table statistics; no lineage, conflicts, rank bands, streak statuses, names or labels.


-- @step facts
-- (1) The preferred figure per fact (indicator x level x unit x component x year) among every
-- observation: the publishers' files (grain = score, unit rows) and the curated pages, as
-- int_observations unions them, less the rows fct_indicator_scores drops (no value, no rank, and not
-- printed as not scored / no data). The order is fct_indicator_scores's: a value before none, source
-- type priority, the catalogue's publication preference, the most decimals (a workbook's unrounded
-- value first), not low-reliability, not derived, publication id. The published rank is picked
-- alike among the observations that printed one (priority, preference, not derived, not from wording,
-- not from order of listing, publication id). Both picks are one GROUP BY with arg_min over a row of
-- the sort keys (no window, no join back). Dropped: lineage (URL, file, sha256, cell), unit and
-- component names, the conflicts flag, confidence intervals and tiers.
create table lean.facts as
with observations as (
    select publication_id, indicator as indicator_code, level, year::integer as year, unit_code as unit_key,
           component_code, value::double as value, value_status, rank::integer as published_rank,
           null::integer as value_decimals, false as flag_low_reliability, false as flag_derived,
           false as flag_word_rank, false as flag_order_of_listing
    from read_parquet({publisher_files}, union_by_name = true)
    where grain = 'score' and row_kind = 'unit'
    union all
    select publication_id, indicator, level, year, unit_key, component_code, value,
           case when value is null then 'not_printed' else 'published' end, rank, value_decimals,
           flag_low_reliability, flag_derived, flag_word_rank, flag_order_of_listing
    from read_parquet('{parsed}/curated/*.parquet', union_by_name = true)
    where row_kind = 'unit'
),
ranked_obs as (  -- with each publication's source priority and preference (inner joins, as int_observations)
    select o.*, t.priority, coalesce(p.preference, 2147483647) as preference  -- no preference sorts last
    from observations as o
    join read_parquet('{parsed}/catalogue/publications.parquet') as p using (publication_id)
    join reference.source_types as t on t.source_type = p.source_type
    where o.value is not null or o.published_rank is not null or o.value_status in ('not_scored', 'no_data')
),
picked as (
    select indicator_code, level, unit_key, component_code, year,
           arg_min({value: value, value_status: value_status, publication_id: publication_id},
                   row(value is null, priority, preference, -coalesce(value_decimals, 99),
                       flag_low_reliability, flag_derived, publication_id)) as v,
           arg_min({published_rank: published_rank, publication_id: publication_id},
                   row(priority, preference, flag_derived, flag_word_rank, flag_order_of_listing, publication_id))
               filter (where published_rank is not null) as r,
           count(*) as observations
    from ranked_obs
    group by indicator_code, level, unit_key, component_code, year
)
select indicator_code, level, unit_key, component_code, year,
       v.value, v.value_status, v.publication_id as value_publication_id,
       r.published_rank, r.publication_id as rank_publication_id, observations
from picked;


-- @step tables
-- Per ranked table (indicator x level x component x year, for the ranked indicators at province and
-- ministry level, as fct_rankings): how many units have a figure, how many the publisher ranked
-- (seeds ranked_units, less the units printed as no data), whether the table is complete (every
-- ranked unit has a figure: mart_coverage's rule) and the first year of its series (seeds
-- series_breaks). Small: one row per table.
create table lean.tables as
with ranked_years as (
    select indicator as indicator_code, level, y.year::integer as year, units_ranked
    from reference.ranked_units, generate_series(year_from, year_to) as y(year)
),
held as (
    select f.indicator_code, f.level, f.component_code, f.year,
           count(f.value) as units_with_figure,
           count(*) filter (where f.value_status = 'no_data') as units_no_data
    from lean.facts as f
    where f.level in ('province', 'ministry')
      and f.indicator_code in (select indicator_code from reference.indicators where is_ranked)
    group by all
)
select h.*,
       (y.units_ranked - h.units_no_data)::integer as units_ranked,
       coalesce(h.units_with_figure >= y.units_ranked - h.units_no_data, false) as is_complete,
       (select max(b.first_year) from reference.series_breaks as b
        where b.indicator_code = h.indicator_code and b.component_code = h.component_code
          and b.first_year <= h.year) as series_first_year
from held as h
left join ranked_years as y using (indicator_code, level, year);


-- @step rankings
-- (2) The rank of every figure of a ranked table: the publisher's printed rank where there is one,
-- else rank() by score (ties share a rank, the next rank is skipped), computed only in complete
-- tables and only where every printed rank of the table agrees with the scores' order (a partial
-- table is never ranked). (4) The percentile, where the table is complete:
-- 100 x (units ranked - rank) / (units ranked - 1). The window runs over the complete tables'
-- rows only; the other rows pass through beside it (UNION ALL, no join back). Dropped: rank bands
-- from intervals, the publisher_order label (rank_source says published or computed), labels.
create table lean.rankings as
with scores as (
    select f.indicator_code, f.level, f.component_code, f.year, f.unit_key, f.value, f.published_rank,
           t.units_ranked, t.is_complete, t.series_first_year
    from lean.facts as f
    join lean.tables as t using (indicator_code, level, component_code, year)
),
computed as (  -- complete tables: rank() by score, and whether the table's printed ranks all agree
    select *, bool_and(published_rank is null or published_rank = computed_rank)
                  over (partition by indicator_code, level, component_code, year) as consistent
    from (select *, rank() over (partition by indicator_code, level, component_code, year
                                 order by value desc) as computed_rank
          from scores where is_complete and value is not null)
),
unioned as (
    select * exclude (computed_rank, consistent), case when consistent then computed_rank end as computed_rank
    from computed
    union all
    select *, null::bigint from scores where not (is_complete and value is not null)
)
select indicator_code, level, component_code, year, unit_key, value as score, units_ranked,
       is_complete as table_is_complete, series_first_year,
       coalesce(published_rank, computed_rank)::integer as rank,
       case when published_rank is not null then 'published'
            when computed_rank is not null then 'computed' end as rank_source,
       case when is_complete and coalesce(published_rank, computed_rank) is not null and units_ranked > 1
            then round(100.0 * (units_ranked - coalesce(published_rank, computed_rank)) / (units_ranked - 1), 1)
       end as percentile
from unioned;


-- @step rank_changes
-- (3) Rank change against the previous ranked year: for each ranked figure, the previous year in
-- which the same table (same series: never across a series break) ranked anyone, the unit's rank
-- that year (none if it had none) and the change (previous - current; up is positive), as
-- fct_rankings has it. One window over each unit's rows in ranked years, no self-join: the unit's
-- previous such row counts only if it is the table's previous ranked year; no change where either
-- table's number of units ranked is unknown (SIPAS 2015). One row per ranked figure.
create table lean.rank_changes as
with ranked_tables as (
    select indicator_code, level, component_code, year,
           lag(year) over (partition by indicator_code, level, component_code, series_first_year
                           order by year) as previous_ranked_year
    from (select distinct indicator_code, level, component_code, year, series_first_year
          from lean.rankings where rank is not null)
),
unit_rows as (
    select r.indicator_code, r.level, r.component_code, r.year, r.unit_key, r.rank, t.previous_ranked_year,
           r.units_ranked,
           lag(r.year) over u as unit_previous_year,
           lag(r.rank) over u as unit_previous_rank,
           lag(r.units_ranked) over u as unit_previous_units_ranked
    from lean.rankings as r
    join ranked_tables as t using (indicator_code, level, component_code, year)
    window u as (partition by r.indicator_code, r.level, r.component_code, r.series_first_year, r.unit_key
                 order by r.year)
)
select indicator_code, level, component_code, year, unit_key, rank, previous_ranked_year,
       case when unit_previous_year = previous_ranked_year then unit_previous_rank end as previous_rank,
       -- no change against (or from) a table whose size no source records
       (case when unit_previous_year = previous_ranked_year and units_ranked is not null
                  and unit_previous_units_ranked is not null then unit_previous_rank end - rank)::integer
           as rank_change
from unit_rows
where rank is not null;


-- @step streaks
-- (5) Streaks on the headline index (component overall): for every year the indicator ranked units
-- (seeds ranked_units) and every unit it ever ranked that existed that year, how many years in a
-- row, up to that year, the unit was 1st / in the top 3 / in the top 10 (gaps and islands: the
-- year minus the latest earlier year, in the series, that was not a confirmed top-k year). A year
-- without a rank for the unit is "outside" (0) when k other units hold ranks 1..k, else unknown
-- (null): mart_streaks's rules. All three k in one window pass. Dropped: the streak status
-- (exact / at least / since the series break), unit names.
create table lean.streaks as
with ranked_years as (
    select y.indicator_code, y.level, y.year, y.series_first_year,
           min(y.year) over (partition by y.indicator_code, y.level, y.series_first_year) as first_year
    from (select indicator as indicator_code, level, g.year::integer as year,
                 (select max(b.first_year) from reference.series_breaks as b
                  where b.indicator_code = r.indicator and b.component_code = 'overall'
                    and b.first_year <= g.year) as series_first_year
          from reference.ranked_units as r, generate_series(year_from, year_to) as g(year)) as y
),
units as (  -- every rankable unit with its validity (int_units)
    select 'province' as level, province_key as unit_key, valid_from, valid_to from reference.provinces
    union all select 'ministry', ministry_key, valid_from, valid_to from reference.ministries
    union all select kind, unit_key, valid_from, valid_to from reference.local_units
),
overall as (
    select indicator_code, level, year, unit_key, rank from lean.rankings where component_code = 'overall'
),
held as (  -- per table: how many units hold a rank within the top k
    select indicator_code, level, year,
           count(*) filter (where rank <= 1) as held_1, count(*) filter (where rank <= 3) as held_3,
           count(*) filter (where rank <= 10) as held_10
    from overall where rank is not null
    group by all
),
grid as (
    select y.indicator_code, y.level, y.year, y.series_first_year, y.first_year, u.unit_key, o.rank,
           coalesce(h.held_1, 0) as held_1, coalesce(h.held_3, 0) as held_3, coalesce(h.held_10, 0) as held_10
    from ranked_years as y
    join (select distinct indicator_code, level, unit_key from overall) as u using (indicator_code, level)
    join units as v on v.level = u.level and v.unit_key = u.unit_key
    left join overall as o
        on o.indicator_code = y.indicator_code and o.level = y.level and o.year = y.year and o.unit_key = u.unit_key
    left join held as h on h.indicator_code = y.indicator_code and h.level = y.level and h.year = y.year
    where (v.valid_from is null or extract(year from v.valid_from) <= y.year)
      and (v.valid_to is null or extract(year from v.valid_to) >= y.year)
),
stops as (  -- the latest earlier year in the series that was not a confirmed top-k year
    select *,
           max(case when rank is null or rank > 1 then year end) over w as stop_1,
           max(case when rank is null or rank > 3 then year end) over w as stop_3,
           max(case when rank is null or rank > 10 then year end) over w as stop_10
    from grid
    window w as (partition by indicator_code, level, unit_key, series_first_year order by year
                 rows between unbounded preceding and 1 preceding)
)
select indicator_code, level, unit_key, year, rank,
       case when rank > 1 or (rank is null and held_1 >= 1) then 0 when rank is null then null
            else year - coalesce(stop_1, first_year - 1) end as streak_top1_years,
       case when rank > 3 or (rank is null and held_3 >= 3) then 0 when rank is null then null
            else year - coalesce(stop_3, first_year - 1) end as streak_top3_years,
       case when rank > 10 or (rank is null and held_10 >= 10) then 0 when rank is null then null
            else year - coalesce(stop_10, first_year - 1) end as streak_top10_years
from stops;


-- @step summaries
-- (6) Per ranked table: units with a score and, where the table is complete, the mean (summed as
-- an exact decimal, as mart_year_summaries, so the result does not depend on the order of a
-- parallel sum), median, min and max of the scores. Dropped: the published averages (curated
-- aggregates) and the change of the mean against the previous year.
create table lean.summaries as
select indicator_code, level, component_code, year,
       count(score) as units_with_score,
       bool_and(table_is_complete) as table_is_complete,
       case when bool_and(table_is_complete) then avg(score::decimal(38, 16))::double end as mean_score,
       case when bool_and(table_is_complete) then median(score) end as median_score,
       case when bool_and(table_is_complete) then min(score) end as min_score,
       case when bool_and(table_is_complete) then max(score) end as max_score
from lean.rankings
group by indicator_code, level, component_code, year;


-- (7) Key checks: each must return no row (the runner counts them, as dbt counts a test's rows).

-- @check facts_key_unique
select indicator_code, level, unit_key, component_code, year
from lean.facts group by all having count(*) > 1;

-- @check facts_key_not_null
select * from lean.facts
where indicator_code is null or level is null or unit_key is null or component_code is null or year is null;

-- @check rankings_key_unique
select indicator_code, level, component_code, year, unit_key
from lean.rankings group by all having count(*) > 1;

-- @check rankings_key_not_null
select * from lean.rankings
where indicator_code is null or level is null or component_code is null or year is null or unit_key is null;

-- @check rankings_rank_positive
select * from lean.rankings where rank < 1;

-- @check rank_changes_key_unique
select indicator_code, level, component_code, year, unit_key
from lean.rank_changes group by all having count(*) > 1;

-- @check streaks_key_unique
select indicator_code, level, unit_key, year from lean.streaks group by all having count(*) > 1;

-- @check summaries_key_unique
select indicator_code, level, component_code, year from lean.summaries group by all having count(*) > 1;
