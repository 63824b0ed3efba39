-- The province VCCI ranks first each year has the highest score that year.
with top as (
    select year, max(score) as best from {{ ref('mart_pci_provincial_ranking') }} group by year
)
select r.year, r.province_name, r.score, top.best
from {{ ref('mart_pci_provincial_ranking') }} as r
join top using (year)
where r.rank = 1 and r.score < top.best
