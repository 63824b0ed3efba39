-- MetricFlow's time spine (it needs one at the grain of a day): every day from 2000 to 2040. The
-- indicators come once a year, so the metrics group by year (models/semantic/_semantic.yml).
{{ days_between('2000-01-01', '2041-01-01') }}
