-- Grain: indicator x level x year x component: how much of each year's table the warehouse holds.
-- Computed in intermediate/int_table_coverage.sql; the mart serves it as it is.
select * from {{ ref('int_table_coverage') }}
