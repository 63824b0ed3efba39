"""The scale harness (bench/scale.py) at N = 1: a SYNTHETIC commune-level publication as large as
today's data, a raw file registered through GOVWH_CATALOGUE_EXTRA, goes through the real fetch
and land, parse, build, publish and report, and every dbt test passes on it.
(Its timings are benchmark figures, printed by `make bench`, never asserted here.)"""
from __future__ import annotations

import pytest

import json
import subprocess
import sys

import duckdb

from ingest.config import DUCKDB_MEMORY_LIMIT, REPO_ROOT
from ingest.landing import sha256_file

pytestmark = pytest.mark.slow  # each test runs its own pipeline or dbt build


def test_the_harness_at_scale_1_passes_every_dbt_test(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "scale.py"), "--scale", "1", "--keep",
                           "--work", str(tmp_path / "work"), "--results", str(tmp_path / "results")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = (tmp_path / "results").glob("*-scale1.json")
    result = json.loads(path.read_text())
    units = result["units"]
    # units x 20 years x 31 components, less the ceased unit's 10 years and the partial year's fifth
    assert result["synthetic"] is True
    assert result["facts"]["synthetic"] == units * 20 * 31 - 10 * 31 - (units // 5) * 31
    assert result["facts"]["synthetic"] / result["facts"]["real"] > 0.9  # scale 1 = about today's size
    assert result["floor"]["failing_tests"] == [] and result["floor"]["tests"] >= 90
    models = len(list((REPO_ROOT / "dbt_project" / "models").rglob("*.sql")))
    assert result["floor"]["models"] == models + 1 == 45  # the project's models + the synthetic staging model
    # the lean floor (bench/lean_floor.sql): ran every step and key check under dbt's memory limit and built
    # non-empty tables, row for row as many as the marts they stand for (if a mart's rules change, the lean
    # SQL follows); its ratio is a figure, never a threshold
    lean = result["lean_floor"]
    assert lean["failing_checks"] == [] and lean["checks"] >= 5
    assert set(lean["rows"]) >= {"facts", "rankings", "rank_changes", "streaks", "summaries"}
    assert all(n > 0 for n in lean["rows"].values()), lean["rows"]
    assert all(n["lean"] > 0 and n["lean"] == n["marts"] for n in lean["compared_rows"].values()), lean["compared_rows"]
    assert lean["memory_limit"] == DUCKDB_MEMORY_LIMIT and "lean floor: minimal SQL" in result["steps"]
    for key in ("dbt_build_to_lean_floor", "govwh_build_to_lean_floor"):
        assert isinstance(result[key], (int, float)) and result[key] > 0, (key, result[key])
    data = tmp_path / "work" / "scale1" / "data"
    raw_file = tmp_path / "work" / "scale1" / "synthetic" / "synthetic-commune-index.csv.gz"
    landed = [json.loads(line) for line in (data / "raw" / "manifest.jsonl").read_text().splitlines()]
    (record,) = [r for r in landed if r["url"] == raw_file.as_uri()]  # fetched and landed by the fetcher
    assert record["sha256"] == sha256_file(raw_file) and record["outcome"] == "landed"
    assert (data / "raw" / record["raw_path"]).read_bytes() == raw_file.read_bytes()
    parsed = data / "parsed" / "synthetic_commune" / "synthetic-commune-index.parquet"  # by the tidy_bundle parser
    assert duckdb.execute("select count(*), count(distinct landed_sha256), min(landed_sha256) from read_parquet(?)",
                          [str(parsed)]).fetchone() == (result["facts"]["synthetic"], 1, record["sha256"])
    log = (data / "build" / "dbt_build.log").read_text()
    assert "ERROR=0" in log and "WARN=0" in log
    con = duckdb.connect(str(data / "governance.duckdb"), read_only=True)
    try:
        ranked = dict(con.execute(
            "select year, count(*) from marts.fct_rankings where indicator_code = 'synthetic_commune' "
            "and component_code = 'overall' and year in (2014, 2015, 2024) group by year").fetchall())
        ties = con.execute(
            "select count(*) from (select year, rank from marts.fct_rankings where indicator_code = "
            "'synthetic_commune' and component_code = 'overall' group by year, rank having count(*) > 1)").fetchone()[0]
        label = con.execute("select title from marts.dim_publication "
                            "where publication_id = 'synthetic-commune-index'").fetchone()[0]
    finally:
        con.close()
    assert ranked == {2014: units, 2015: units - 1, 2024: units - 1 - units // 5}
    assert ties > 0 and label.startswith("SYNTHETIC")
    assert "Xã Tổng Hợp" not in (REPO_ROOT / "dbt_project" / "seeds" / "provinces.csv").read_text()  # own seeds only
