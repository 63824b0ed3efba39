-- mart_published_aggregates' arithmetic: difference is computed_value - published_value, and
-- computed_value is the warehouse's statistic of the published one's kind (a mean beside a mean,
-- a median beside a median, a region's mean beside a regional average); the warehouse's own figures
-- appear only where it holds the whole table (never a "mean" of 2-13 units of a partial one).
select *
from {{ ref('mart_published_aggregates') }}
where difference is distinct from computed_value - published_value
    or (not table_is_complete
        and (computed_value is not null or computed_mean is not null or computed_median is not null
             or units_in_mean is not null or reconciles is not null))
    or (table_is_complete and aggregate_scope is null and computed_value is null)
    or (aggregate_kind in ('mean', 'regional_mean') and computed_value is distinct from computed_mean)
    or (aggregate_kind = 'median' and computed_value is distinct from computed_median)
