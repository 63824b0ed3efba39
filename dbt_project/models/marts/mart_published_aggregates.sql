-- Published aggregates as printed beside the warehouse's own statistic of the same table, and
-- whether they reconcile: the logic is int_published_aggregates'; the mart serves it as it is.
select * from {{ ref('int_published_aggregates') }}
