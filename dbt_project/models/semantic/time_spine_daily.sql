-- MetricFlow's time spine (it needs one at the grain of a day): every day from 2000 to 2040. The
-- indicators come once a year, so the metrics group by year (models/semantic/_semantic.yml).
select d::date as date_day
from range(date '2000-01-01', date '2041-01-01', interval 1 day) as t(d)
