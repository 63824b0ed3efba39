"""The whole pipeline, in-process, on real DuckDB files: what it builds, that a second run
changes nothing, and that bad input leaves the last good warehouse exactly as it was."""
from __future__ import annotations

import shutil
from decimal import Decimal

import duckdb
import pytest

from ingest import pipeline
from ingest.errors import FetchError, LayoutError, PipelineError
from ingest.landing import RawStore

from conftest import file_sha256, make_settings, query, serve_originals, table_fingerprints
from expected import PCI_LEADERS



def test_warehouse_holds_every_year_and_the_published_leaders(built_warehouse):
    years = dict(query(built_warehouse, "select indicator_code, count(distinct year) from marts.fct_indicator_scores "
                                         "where value_source_type = 'publisher_file' group by 1"))
    assert years == {"pci": 15, "papi": 9}  # every workbook year; curated pages add later years
    leaders = dict(query(built_warehouse, "select year, province_name from marts.mart_pci_provincial_ranking "
                                           "where rank = 1 and year <= 2019"))
    assert leaders == PCI_LEADERS
    top2 = query(built_warehouse, "select province_name, score_2dp, rank, provinces_ranked, tier "
                                   "from marts.mart_pci_provincial_ranking where year = 2016 and rank <= 2 "
                                   "order by rank")
    # as printed: a DECIMAL(9, 2), so BI tools show 70.00 and 65.60 (full precision stays in `value`)
    assert top2 == [("Đà Nẵng", Decimal("70.00"), 1, 63, "Rất tốt"), ("Quảng Ninh", Decimal("65.60"), 2, 63, "Rất tốt")]
    assert [str(r[1]) for r in top2] == ["70.00", "65.60"]
    ranked = dict(query(built_warehouse, "select year, max(provinces_ranked) from "
                                          "marts.mart_pci_provincial_ranking group by 1"))
    assert ranked[2005] == 42 and ranked[2006] == 64 and ranked[2008] == 64 and ranked[2009] == 63


def test_rank_change_across_the_64_to_63_change(built_warehouse):
    rows = dict(query(built_warehouse, "select year, rank_change from marts.mart_pci_provincial_ranking "
                                        "where province_name = 'Quảng Ninh' and year in (2015, 2016)"))
    assert rows[2016] == 1  # 3rd in 2015, 2nd in 2016
    ha_tay = query(built_warehouse, "select max(year) from marts.mart_pci_provincial_ranking "
                                     "where province_code = '28'")
    assert ha_tay == [(2008,)]


def test_every_score_carries_its_lineage(built_warehouse):
    (missing,) = query(built_warehouse, "select count(*) from marts.fct_observations where source_sha256 is null "
                                         "or source_location is null or landed_sha256 is null or source_url is null")
    assert missing == (0,)
    row = query(built_warehouse, "select source_file, source_location, value_source_url from marts.fct_indicator_scores "
                                  "where year = 2016 and unit_name = 'Đà Nẵng' and indicator_code = 'pci' "
                                  "and component_code = 'overall'")
    assert row[0][:2] == ("PCI_2016.xlsx", "Summary_VN!W2")
    assert row[0][2].endswith("/data-raw/PCI/PCI_2016.xlsx")


def test_papi_not_scored_is_kept_as_null(built_warehouse):
    rows = query(built_warehouse, "select unit_name, value from marts.fct_indicator_scores "
                                   "where indicator_code = 'papi' and year = 2014 and component_code = 'overall' "
                                   "and value_status = 'not_scored' order by 1")
    assert rows == [("Bắc Giang", None), ("Đồng Tháp", None)]


def test_second_run_lands_nothing_and_changes_no_table(warehouse_copy):
    before = table_fingerprints(warehouse_copy.warehouse)
    raw_before = sorted(p.name for p in warehouse_copy.raw_dir.glob("*/*"))
    pipeline.run_all(warehouse_copy)
    assert sorted(p.name for p in warehouse_copy.raw_dir.glob("*/*")) == raw_before
    records = RawStore(warehouse_copy.raw_dir).records()
    assert [r["outcome"] for r in records[-13:]] == ["unchanged"] * 13
    assert table_fingerprints(warehouse_copy.warehouse) == before


@pytest.mark.slow
def test_live_path_from_originals_gives_the_same_scores_as_the_bundle(built_warehouse, originals,
                                                                      http_server, tmp_path):
    serve_originals(http_server, originals)
    settings = make_settings(tmp_path / "live", source_mode="mirror", mirror=http_server.base)
    pipeline.run_all(settings)
    sql = ("select * exclude (landed_sha256) from marts.fct_indicator_scores "
           "order by score_id")
    assert query(settings, sql) == query(built_warehouse, sql)


# ------------------------------------------------------------------ bad input keeps the last good warehouse
def _truncated(originals):
    data = (originals / "vcci-pci/PCI_2016.xlsx").read_bytes()
    return {"vcci-pci-2016": data[: len(data) // 3]}


def _renamed_sheet(originals, tmp_path):
    import openpyxl

    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2016.xlsx")
    book["Summary_VN"].title = "Summary_VN_2016"
    book.save(tmp_path / "renamed.xlsx")
    return {"vcci-pci-2016": (tmp_path / "renamed.xlsx").read_bytes()}


CASES = {
    "truncated workbook": (LayoutError, r"vcci-pci-2016 \(PCI_2016.xlsx\): cannot open workbook"),
    "renamed sheet": (LayoutError, r"vcci-pci-2016 \(PCI_2016.xlsx\): none of the expected sheets"),
    "server error": (FetchError, r"PCI_2016.xlsx: HTTP 500"),
    "redirect off the allowlist": (FetchError, r"not on the allowlist"),
    "over the size cap": (FetchError, r"byte cap"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_leaves_the_published_warehouse_as_it_was(case, warehouse_copy, originals,
                                                            http_server, tmp_path):
    overrides = {}
    if case == "truncated workbook":
        overrides = _truncated(originals)
    elif case == "renamed sheet":
        overrides = _renamed_sheet(originals, tmp_path)
    serve_originals(http_server, originals, overrides)
    path = "/data-raw/PCI/PCI_2016.xlsx"
    if case == "server error":
        http_server.routes[path].statuses = [500] * 20
    elif case == "redirect off the allowlist":
        http_server.routes[path].redirect_to = "http://203.0.113.9/PCI_2016.xlsx"  # never contacted
    max_bytes = 400_000 if case == "over the size cap" else 50 * 1024 * 1024  # PCI_2014.xlsx is 624 kB

    served = file_sha256(warehouse_copy.warehouse)
    parsed_before = {p.name: file_sha256(p) for p in warehouse_copy.parsed_dir.rglob("*.parquet")}
    raw_before = set(warehouse_copy.raw_dir.glob("*/*"))
    settings = make_settings(warehouse_copy.data_dir, source_mode="mirror", mirror=http_server.base,
                             max_bytes=max_bytes)
    error, pattern = CASES[case]
    with pytest.raises(error, match=pattern):
        pipeline.run_all(settings)
    assert file_sha256(warehouse_copy.warehouse) == served
    assert {p.name: file_sha256(p) for p in warehouse_copy.parsed_dir.rglob("*.parquet")} == parsed_before
    assert raw_before <= set(warehouse_copy.raw_dir.glob("*/*"))  # nothing landed is ever removed


@pytest.mark.slow
def test_failing_dbt_test_leaves_the_published_warehouse_as_it_was(warehouse_copy, monkeypatch, tmp_path):
    """A parsed table that passes the parser but breaks a dbt test (a PCI score above 100,
    written straight into the parsed layer, synthetic) must not be published."""
    served = file_sha256(warehouse_copy.warehouse)
    target = next(warehouse_copy.parsed_dir.glob("pci/vcci-pci-2016.parquet"))
    con = duckdb.connect()
    tmp = tmp_path / "bad.parquet"
    con.execute(f"copy (select * replace (case when cell = 'W2' then 170.0 else value end as value) "
                f"from read_parquet('{target}')) to '{tmp}' (format parquet)")
    con.close()
    shutil.copyfile(tmp, target)
    with pytest.raises(PipelineError, match=r"dbt build failed .*value_between"):
        pipeline.build(warehouse_copy)
    assert file_sha256(warehouse_copy.warehouse) == served


def test_units_through_time_in_the_warehouse(built_warehouse):
    (counts,) = query(built_warehouse, "select count(*), count(*) filter (where is_current), "
                                        "count(distinct current_province_key) from marts.dim_province")
    assert counts == (87, 34, 34)
    ha_tay = query(built_warehouse, "select current_province_key, valid_to from marts.dim_province "
                                     "where province_key = '28'")
    assert [(k, str(d)) for k, d in ha_tay] == [("01", "2008-07-31")]
    hcmc = query(built_warehouse, "select province_keys, provinces_with_figure, is_complete, is_official_ranking "
                                   "from marts.mart_scores_current_provinces where current_province_key = '79-2025' "
                                   "and indicator_code = 'pci' and component_code = 'overall' and year = 2016")
    assert hcmc == [("74,77,79", 3, True, False)]
