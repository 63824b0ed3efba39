"""The semantic layer (dbt_project/models/semantic/_semantic.yml, MetricFlow through `govwh metrics`)
answers what people compute from the rankings with the same figures as the marts."""
from __future__ import annotations

import csv

import pytest

from conftest import assert_one_line_error, govwh, query

pytestmark = pytest.mark.slow  # each question starts MetricFlow (about 5 s)

OVERALL = "{{ Dimension('ranking__component_code') }} = 'overall'"


def _metrics(settings, tmp_path, *args) -> list[dict]:
    """A query whose CSV is named relative to the caller's working folder (mf itself runs elsewhere)."""
    import subprocess
    import sys

    from conftest import data_env

    out = tmp_path / "out.csv"
    out.unlink(missing_ok=True)
    env = {**data_env(settings.data_dir), "GOVWH_CURATED_DIR": str(settings.curated_dir)}
    proc = subprocess.run([sys.executable, "-m", "ingest", "metrics", "query", *args, "--csv", "out.csv"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(out, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_metrics_answer_three_questions_as_the_marts_do(built_warehouse, tmp_path):
    # PCI 2016's top 10: score and rank per province
    top = _metrics(built_warehouse, tmp_path, "--metrics", "score,rank", "--group-by", "ranking__unit_name",
                   "--where", f"{{{{ Dimension('ranking__indicator_code') }}}} = 'pci' and {OVERALL} and "
                   "{{ TimeDimension('ranking__ranking_year', 'year') }} = '2016-01-01'", "--order", "rank,ranking__unit_name",
                   "--limit", "10")
    expected = query(built_warehouse, "select province_name, score, rank from marts.mart_pci_provincial_ranking "
                                      "where year = 2016 order by rank, province_name limit 10")
    assert [(r["ranking__unit_name"], round(float(r["score"]), 6), int(r["rank"])) for r in top] == \
        [(name, round(score, 6), rank) for name, score, rank in expected]
    assert top[0]["ranking__unit_name"] == "Đà Nẵng"

    # Quảng Ninh's PAR INDEX rank, year by year
    ranks = _metrics(built_warehouse, tmp_path, "--metrics", "rank", "--group-by", "metric_time__year",
                     "--where", f"{{{{ Dimension('ranking__indicator_code') }}}} = 'par_index' and {OVERALL} and "
                     "{{ Dimension('ranking__level') }} = 'province' and {{ Dimension('ranking__unit_name') }} = 'Quảng Ninh'",
                     "--order", "metric_time__year")
    expected = query(built_warehouse, "select year, rank from marts.fct_rankings where indicator_code = 'par_index' "
                                      "and component_code = 'overall' and level = 'province' and unit_name = 'Quảng Ninh' "
                                      "order by year")
    got = [(int(r["metric_time__year"][:4]), int(float(r["rank"])) if r["rank"] else None) for r in ranks]
    assert got == expected and len(got) >= 5

    # the mean PAPI total by year (the marts' own per-table summary)
    means = _metrics(built_warehouse, tmp_path, "--metrics", "score,units_with_score", "--group-by", "metric_time__year",
                     "--where", f"{{{{ Dimension('ranking__indicator_code') }}}} = 'papi' and {OVERALL} and "
                     "{{ Dimension('ranking__level') }} = 'province'", "--order", "metric_time__year")
    expected = query(built_warehouse, "select year, avg(score), count(score) from marts.fct_rankings "
                                      "where indicator_code = 'papi' and component_code = 'overall' and level = 'province' "
                                      "group by year order by year")
    got = [(int(r["metric_time__year"][:4]), round(float(r["score"]), 6), int(r["units_with_score"])) for r in means]
    assert got == [(y, round(m, 6), n) for y, m, n in expected] and [y for y, *_ in got][:2] == [2011, 2012]
    # and the same as the marts' per-table summary, where it gives a mean (complete tables only)
    summary = query(built_warehouse, "select year, mean_score from marts.mart_year_summaries where indicator_code = 'papi' "
                                     "and component_code = 'overall' and level = 'province' and mean_score is not null")
    assert len(summary) >= 5 and all(round(m, 6) == dict((y, s) for y, s, _n in got)[y] for y, m in summary)


def test_metrics_by_region_and_a_bad_query_is_one_line(built_warehouse, tmp_path):
    by_region = _metrics(built_warehouse, tmp_path, "--metrics", "score", "--group-by", "unit__region_en",
                         "--where", f"{{{{ Dimension('ranking__indicator_code') }}}} = 'pci' and {OVERALL} and "
                         "{{ TimeDimension('ranking__ranking_year', 'year') }} = '2016-01-01'")
    expected = dict(query(built_warehouse, "select p.region_en, avg(r.score) from marts.fct_rankings r join marts.dim_province p "
                                           "on p.province_key = r.unit_key where r.indicator_code = 'pci' and r.year = 2016 "
                                           "and r.component_code = 'overall' group by 1"))
    assert {r["unit__region_en"]: round(float(r["score"]), 6) for r in by_region} == \
        {k: round(v, 6) for k, v in expected.items()} and len(expected) == 6
    assert_one_line_error(govwh(built_warehouse, "metrics", "query", "--metrics", "no_such_metric"),
                          r"^error: metrics: mf query failed: ERROR: .*does not exactly match any known metrics")
