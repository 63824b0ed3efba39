-- How many consecutive years, up to and including each ranked year, a unit was 1st / in the top 3 /
-- in the top 10, and how sure that count is: the logic is int_streaks' (the resolved ranks'
-- headline rows); the mart serves it as it is.
select * from {{ ref('int_streaks') }}
