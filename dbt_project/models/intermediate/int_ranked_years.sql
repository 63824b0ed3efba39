-- The years each indicator ranked units at each level, and how many (seeds/ranked_units.csv).
select indicator as indicator_code, level, y.year::integer as year, units_ranked, basis
from {{ ref('ranked_units') }}, generate_series(year_from, year_to) as y(year)
