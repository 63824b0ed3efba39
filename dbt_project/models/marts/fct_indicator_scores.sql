-- Grain: indicator x level x unit x component x year: one preferred figure per fact. The pick and
-- its preference rule are intermediate/int_indicator_scores.sql; the mart serves it as it is.
select * from {{ ref('int_indicator_scores') }}
