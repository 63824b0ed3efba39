"""Publications that exist only as pages and images: the curated intake path.

The real curated files (data/curated, split from ../shared/sources/transcribed) go through the
whole pipeline in the session warehouse; broken files here are synthetic fixtures.
"""
from __future__ import annotations

import csv

from collections import Counter
from pathlib import Path

import pytest

from ingest import catalogue, pipeline
from ingest.config import CURATED_DIR
from ingest.errors import LayoutError, UnknownUnitError
from ingest.parsers import ParseContext
from ingest.parsers import curated as curated_parser

from conftest import curated_copy, file_sha256, make_settings, query, write_curated

def _parse(path: Path):
    pub = next(p for p in catalogue.curated(path.parent) if p.local_file == path)
    return curated_parser.parse(pub, ParseContext(path, path.name, "synthetic", path.name))


# ------------------------------------------------------------------ the real transcriptions in the warehouse
def test_every_transcribed_figure_is_kept_with_its_citation(built_warehouse):
    curated_rows = sum(sum(1 for line in p.read_text(encoding="utf-8").splitlines() if line.strip()
                           and not line.startswith("#")) - 1  # the provenance lines and the column names
                       for p in CURATED_DIR.glob("*.csv"))
    (units, aggregates) = query(built_warehouse, """
        select (select count(*) from marts.fct_observations where source_type <> 'publisher_file'),
               (select count(*) from marts.mart_published_aggregates where source_type <> 'publisher_file')""")[0]
    # published_facts.csv: 1,629 transcribed, 2 repeats on one page merged; published_facts_2.csv: 1,828,
    # of which 953 repeat a figure its page's file holds already (the same page in both transcriptions)
    assert units + aggregates == curated_rows == 1627 + 875
    (uncited,) = query(built_warehouse, "select count(*) from marts.fct_observations where source_url is null")[0]
    assert uncited == 0


def test_ministerial_par_index_2023_is_complete_and_reconciles(built_warehouse):
    coverage = query(built_warehouse, """
        select component_code, units_with_figure, units_ranked, is_complete from marts.mart_coverage
        where indicator_code = 'par_index' and level = 'ministry' and year = 2023
        and component_code in ('overall', 'appraisal_score', 'survey_score') order by 1""")
    assert coverage == [("appraisal_score", 17, 17, True), ("overall", 17, 17, True), ("survey_score", 17, 17, True)]
    agg = query(built_warehouse, """
        select published_value, round(computed_mean, 4), units_in_mean, reconciles from marts.mart_published_aggregates
        where indicator_code = 'par_index' and level = 'ministry' and year = 2023""")
    assert agg == [(84.38, 84.3782, 17, True)]
    leader = query(built_warehouse, """
        select unit_key, unit_name, value, published_rank from marts.fct_indicator_scores
        where indicator_code = 'par_index' and level = 'ministry' and year = 2023 and component_code = 'overall'
        and published_rank = 1""")
    assert leader == [("MOJ", "Bộ Tư pháp", 89.95, 1)]


def test_published_aggregates_compare_like_with_like_and_only_complete_tables(built_warehouse):
    """A published median sits beside the computed median (difference = computed_value - published),
    and a partial table (2-13 of 63 units) gets no computed "mean" to be read as a national one."""
    kinds = query(built_warehouse, """
        select aggregate_kind, table_is_complete, count(*), count(computed_value), count(difference),
               count(*) filter (where difference = computed_value - published_value)
        from marts.mart_published_aggregates where aggregate_scope is null group by all order by all""")
    assert kinds == [("max", True, 33, 33, 33, 33), ("mean", False, 29, 0, 0, 0), ("mean", True, 4, 4, 4, 4),
                     ("median", False, 3, 0, 0, 0), ("median", True, 33, 33, 33, 33), ("min", True, 33, 33, 33, 33)]
    (median,) = query(built_warehouse, """select round(computed_value, 6) = round(computed_median, 6)
        and round(computed_value, 6) <> round(computed_mean, 6) from marts.mart_published_aggregates
        where indicator_code = 'pci' and year = 2019 and component_code = 'overall' and aggregate_kind = 'median'""")[0]
    assert median


def test_conflicts_mart_lists_the_disagreements_named_by_the_sources_readme(built_warehouse):
    rows = query(built_warehouse, """
        select indicator_code, year, unit_name, least(value_a, value_b), greatest(value_a, value_b)
        from marts.mart_conflicts where conflict_kind = 'value'""")
    found = {(i, y, u, lo, hi) for i, y, u, lo, hi in rows}
    for expected in [("par_index", 2023, "Hải Phòng", 91.81, 91.87), ("par_index", 2012, "Đà Nẵng", 87.12, 87.14),
                     ("papi", 2020, "Quảng Ninh", 48.811, 48.881), ("papi", 2019, "Quảng Ninh", 44.66, 46.66)]:
        assert expected in found, expected


def test_preferred_value_follows_the_stated_rule(built_warehouse):
    # PAPI 2020 Quảng Ninh: a government portal (48.811) outranks two news sites (48.881)
    (value, source_type, observations, conflict) = query(built_warehouse, """
        select value, value_source_type, observations, has_conflict from marts.fct_indicator_scores
        where indicator_code = 'papi' and year = 2020 and unit_name = 'Quảng Ninh' and component_code = 'overall'""")[0]
    assert (value, source_type, observations, conflict) == (48.811, "government_portal", 3, True)


def test_flags_are_kept_as_columns(built_warehouse):
    row = query(built_warehouse, """
        select published_rank, flag_word_rank from marts.fct_observations
        where indicator_code = 'par_index' and year = 2018 and unit_name = 'Phú Yên'""")
    assert row == [(63, True)]
    (derived,) = query(built_warehouse, "select count(*) from marts.fct_observations where flag_derived")[0]
    assert derived == 7  # the seven DERIVED notes in published_facts.csv


def test_partial_tables_keep_publisher_ranks_only(built_warehouse):
    cov = query(built_warehouse, """
        select units_with_figure, units_ranked, is_complete from marts.mart_coverage
        where indicator_code = 'pci' and year = 2024 and component_code = 'overall'""")
    (n, ranked, complete), = cov
    assert ranked == 63 and n < 63 and not complete
    # every rank in the warehouse was printed by a source: no observation-less rank exists
    (computed,) = query(built_warehouse, """
        select count(*) from marts.fct_indicator_scores f where published_rank is not null and not exists (
            select 1 from marts.fct_observations o where o.indicator_code = f.indicator_code and o.level = f.level
            and o.unit_key = f.unit_key and o.year = f.year and o.component_code = f.component_code
            and o.published_rank = f.published_rank)""")[0]
    assert computed == 0


# ------------------------------------------------------------------ validation on intake (synthetic files)
BAD = {
    "unknown unit": ("PAR INDEX,province,2022,Tỉnh Không Tồn Tại,85.5,3,,,\n", UnknownUnitError,
                     r"bad\.csv, line 9: unknown unit name 'Tỉnh Không Tồn Tại' in 2022; nearest candidates: "),
    "score out of range": ("PAR INDEX,province,2022,Quảng Ninh,105.2,1,,,\n", LayoutError,
                           r"bad\.csv, line 9: score 105.2 for 'Quảng Ninh' is outside the par_index overall range"),
    "duplicate row": ("SIPAS,province,2022,Quảng Ninh,87.59,1,,,\nSIPAS,province,2022,TP Quảng Ninh,87.6,1,,,\n",
                      LayoutError, r"bad\.csv, line 10: duplicate row: .* is already on line 9"),
    "ranks contradict scores": ("PAR INDEX,province,2022,Quảng Ninh,90.1,1,,,\nPAR INDEX,province,2022,Hải Phòng,91.2,2,,,\n",
                                LayoutError, r"bad\.csv, line 10: rank 2 \(Hải Phòng, 91.2\) scores above rank 1"),
    "rank beyond the units ranked": ("PAR INDEX,ministry,2023,Bộ Tư pháp,89.95,18,,,\n", LayoutError,
                                     r"bad\.csv, line 9: rank 18 of 'Bộ Tư pháp' is larger than the 17 units ranked"),
    "unknown component": ("PCI,province,2020,Quảng Ninh,7.1,,Happiness,,\n", LayoutError,
                          r"bad\.csv, line 9: unknown pci component 'Happiness'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_curated_rows_fail_the_file_with_its_line(case, tmp_path):
    rows, error, pattern = BAD[case]
    path = write_curated(tmp_path, "bad", rows)
    with pytest.raises(error, match=pattern):
        _parse(path)


def test_missing_provenance_fails(tmp_path):
    path = tmp_path / "noprov.csv"
    path.write_text("indicator,level,year,unit,score,rank,component,flags,note\n", encoding="utf-8")
    with pytest.raises(LayoutError, match=r"noprov\.csv, line 1: provenance is missing \['publication', 'title'"):
        catalogue.curated(tmp_path)


@pytest.mark.slow
def test_a_bad_curated_file_loads_nothing_and_keeps_the_warehouse(warehouse_copy, tmp_path):
    folder = curated_copy(tmp_path)
    write_curated(folder, "zz-bad", BAD["unknown unit"][0])
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    served = file_sha256(settings.warehouse)
    with pytest.raises(UnknownUnitError, match=r"curated-zz-bad \(zz-bad\.csv\), line 9"):
        pipeline.run_all(settings)
    assert file_sha256(settings.warehouse) == served
    assert not (settings.parsed_dir / "curated" / "curated-zz-bad.parquet").exists()


@pytest.mark.slow
# ------------------------------------------------------------------ the documented workflow
def test_adding_a_curated_file_shows_its_figures_and_changes_nothing_else(warehouse_copy, tmp_path):
    """The README's workflow: a new year's results were announced -> transcribe -> run -> see them."""
    folder = curated_copy(tmp_path)
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    before = {t: query(settings, f"select * from marts.{t} order by all")
              for t in ("fct_observations", "fct_indicator_scores", "mart_conflicts", "dim_province")}
    write_curated(folder, "synthetic-sipas-2012", "SIPAS,province,2012,Quảng Ninh,91.5,1,,,synthetic\n"
                                           "SIPAS,province,2012,Hà Nội,88.25,2,,,synthetic\n",
           pub="curated-synthetic-sipas-2012")
    pipeline.run_all(settings)
    new = query(settings, """select unit_name, value, published_rank, value_publication_id from marts.fct_indicator_scores
                              where indicator_code = 'sipas' and year = 2012 order by published_rank""")
    assert new == [("Quảng Ninh", 91.5, 1, "curated-synthetic-sipas-2012"),
                   ("Hà Nội", 88.25, 2, "curated-synthetic-sipas-2012")]
    after = {t: query(settings, f"select * from marts.{t} order by all") for t in before}
    assert after["dim_province"] == before["dim_province"]
    assert after["mart_conflicts"] == before["mart_conflicts"]
    for table in ("fct_observations", "fct_indicator_scores"):
        added = Counter(after[table]) - Counter(before[table])  # rows as a multiset: every old row kept
        assert sum(added.values()) == 2 and set(after[table]) >= set(before[table]), table


# ------------------------------------------------------------------ intake without code (synthetic files)
def _with_header_line(tmp_path, name: str, extra: str, rows: str) -> Path:
    (tmp_path / name).mkdir()  # a folder each: the catalogue reads every file beside it
    path = write_curated(tmp_path / name, name, rows)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("# date_read:", f"{extra}\n# date_read:", 1) if extra else text, encoding="utf-8")
    return path


def test_a_file_declares_its_decimal_mark_and_a_rank_01_is_1(tmp_path):
    rows = ('PAR INDEX,province,2023,Quảng Ninh,"91,26",01,,,synthetic\n'
            'PAR INDEX,province,2023,Hải Phòng,"90,5",02,,,synthetic\n')
    got = _parse(_with_header_line(tmp_path, "comma", "# decimal_mark: ,", rows)).rows
    assert [(r.unit_name, r.value, r.value_decimals, r.rank) for r in got] == [
        ("Quảng Ninh", 91.26, 2, 1), ("Hải Phòng", 90.5, 1, 2)]
    # never guessed per cell: a comma in a file that declares none, a point in a comma file
    with pytest.raises(LayoutError, match=r"plain\.csv, line 9: score '91,26' has a comma, but the file declares "
                                          r"decimal_mark '\.' \(a page printing 64,16 declares '# decimal_mark: ,'"):
        _parse(_with_header_line(tmp_path, "plain", "", rows))
    with pytest.raises(LayoutError, match=r"point\.csv, line 10: score '91\.26' has a point, but the file declares "
                                          r"decimal_mark ','"):
        _parse(_with_header_line(tmp_path, "point", "# decimal_mark: ,", rows.replace('"91,26"', "91.26")))
    with pytest.raises(LayoutError, match=r"mark\.csv, line 6: decimal_mark must be one of \['\.', ','\], not ';'"):
        _parse(_with_header_line(tmp_path, "mark", "# decimal_mark: ;", rows))
    for i, (score, rank, message) in enumerate([("nan", "1", r"score 'nan' is not a number"), ("1e2", "1", r"score '1e2' is not a number"),
                                 ("90.1", "²", r"rank '²' is not a positive whole number"),
                                 ("90.1", "0", r"rank '0' is not a positive whole number")]):
        with pytest.raises(LayoutError, match=r"odd\.csv, line 9: " + message):
            (tmp_path / f"{i}").mkdir()
            _parse(_with_header_line(tmp_path / f"{i}", "odd", "", f"PAR INDEX,province,2023,Quảng Ninh,{score},{rank},,,x\n"))


def test_a_component_matches_by_its_own_name_without_an_alias_row(tmp_path):
    rows = ("SIPAS,province,2023,Quảng Ninh,88.1,,Access to services,,synthetic\n"
            "SIPAS,province,2023,Hải Phòng,87.2,,Tiếp cận dịch vụ,,synthetic\n"
            "SIPAS,province,2023,Đà Nẵng,86.3,,procedures,,synthetic\n")
    got = _parse(write_curated(tmp_path, "names", rows)).rows
    assert [r.component_code for r in got] == ["access", "access", "procedures"]


def test_the_eight_par_index_areas_match_as_the_ministry_prints_them(tmp_path):
    """The eight provincial areas, named as MOHA's PAR INDEX training page prints them (the methodology
    with 'Hiện đại hoá hành chính'; README, curated intake); SYNTHETIC scores."""
    from ingest.config import SEEDS_DIR

    printed = ["Công tác chỉ đạo, điều hành cải cách hành chính",
               "Xây dựng và tổ chức thực hiện văn bản quy phạm pháp luật tại tỉnh",
               "Cải cách thủ tục hành chính", "Cải cách tổ chức bộ máy hành chính",
               "Xây dựng và nâng cao chất lượng đội ngũ công chức, viên chức", "Cải cách tài chính công",
               "Hiện đại hoá hành chính",
               "Tác động của CCHC đến người dân, tổ chức và phát triển kinh tế xã hội của tỉnh"]
    rows = "".join(f'PAR INDEX,province,2019,Quảng Ninh,{80 + i}.5,,"{name}",,synthetic\n' for i, name in enumerate(printed))
    got = [r.component_code for r in _parse(write_curated(tmp_path, "areas", rows)).rows]
    assert got == ["area_direction", "area_legal_documents", "area_admin_procedures", "area_organisation",
                   "area_civil_service", "area_public_finance", "area_modernisation", "area_impact"]
    with open(SEEDS_DIR / "components.csv", encoding="utf-8") as f:
        areas = [r for r in csv.DictReader(f) if r["kind"] == "component_area" and r["component_code"] != "area_as_printed"]
    assert sorted(r["component_code"] for r in areas) == sorted(got)


# ------------------------------------------------------------------ regions
def test_six_regions_hold_every_province_and_the_published_regional_averages_resolve(built_warehouse):
    regions = query(built_warehouse, "select region_code, provinces_2008_2025, provinces_from_2025 from marts.dim_region "
                                      "order by sort_order")
    assert [r[0] for r in regions] == ["northern_midlands_mountains", "red_river_delta", "north_central_coast",
                                       "central_highlands", "southeast", "mekong_delta"]
    assert sum(r[1] for r in regions) == 63 and sum(r[2] for r in regions) == 34
    # MOHA's regional PAR INDEX averages (published_facts_2.csv) at level region, every printed name
    # resolved; two tie in 2023
    levels = query(built_warehouse, """select level, count(*) from marts.mart_published_aggregates
        where indicator_code = 'par_index' and aggregate_kind = 'regional_mean' group by 1""")
    averages = query(built_warehouse, """select year, region_code, published_value from marts.mart_published_aggregates
        where indicator_code = 'par_index' and aggregate_kind = 'regional_mean' and year >= 2022 order by 1, 2""")
    assert levels == [("region", len(query(built_warehouse, """select 1 from marts.mart_published_aggregates
        where aggregate_scope is not null""")))]
    assert len(averages) == 10 and all(code for _y, code, _v in averages)
    assert [(c, v) for y, c, v in averages if y == 2023 and v == 85.42] == [("central_highlands", 85.42),
                                                                           ("mekong_delta", 85.42)]


@pytest.mark.slow
def test_a_regional_average_of_a_complete_table_is_checked_against_the_regions_provinces(warehouse_copy, tmp_path):
    """SYNTHETIC regional averages of PCI 2016 (a complete table): the right mean reconciles, beside the
    warehouse's own mean of the region's 11 provinces."""
    (mean,) = query(warehouse_copy, """select round(avg(s.value), 2) from marts.fct_indicator_scores s
        join marts.dim_province p on p.province_key = s.unit_key where s.indicator_code = 'pci' and s.year = 2016
        and s.component_code = 'overall' and s.level = 'province' and p.region_en = 'Red River Delta'""")[0]
    folder = curated_copy(tmp_path)
    write_curated(folder, "synthetic-regions", f"PCI,province,2016,(regional average) Red River Delta,{mean},,,,synthetic\n")
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    pipeline.run_all(settings)
    row = query(settings, """select region_code, units_in_mean, round(computed_mean, 2), reconciles
        from marts.mart_published_aggregates where publication_id = 'curated-synthetic-regions'""")
    assert row == [("red_river_delta", 11, mean, True)]


@pytest.mark.slow
def test_one_more_announcement_page_is_one_file_in_data_curated(built_warehouse, warehouse_copy, tmp_path):
    """A real PAR INDEX page (the Government portal's 2023 table) taken out of the curated data, then
    added back as the intake says: one file in data/curated/, nothing else changed. The warehouse
    without it differs; with it, every table equals the full build's (EXCEPT ALL both ways)."""
    from conftest import marts_differences

    page = "xaydungchinhsach-chinhphu-vn-50321259.csv"
    folder = curated_copy(tmp_path)
    text = (folder / page).read_bytes()
    (folder / page).unlink()
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    pipeline.run_all(settings)
    without = marts_differences(settings.warehouse, built_warehouse.warehouse)
    # the page's 52 rows: 51 figures of the ministries and the average of the 17 ministries
    assert without["marts.fct_observations"] == (0, 51) and without["marts.mart_published_aggregates"] == (0, 1)
    (folder / page).write_bytes(text)
    pipeline.run_all(settings)
    assert marts_differences(settings.warehouse, built_warehouse.warehouse) == {}


def test_the_curated_families_declare_exactly_the_years_their_pages_hold(built_warehouse):
    """catalogue/moha-par-index.yml and moha-sipas.yml list the editions held, which the watch
    does not report as new: a curated year missing there would be reported every night."""
    from ingest import catalogue

    for fam in catalogue.families():
        if fam.curated_only:
            held = query(built_warehouse, "select distinct year from marts.fct_indicator_scores "
                                          "where indicator_code = $i order by 1", {"i": fam.indicator})
            assert fam.years == tuple(y for (y,) in held), fam.path.name
