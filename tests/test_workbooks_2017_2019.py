"""The publishers' own workbooks for 2017-2019: PCI in English with sub-indicators, the re-issued
PAPI panel 2011-2019, the PAPI 2018 FULL file and the PAPI 2019 indicators file with 95% intervals.

Parser tests read ../shared/sources/originals (skipped, saying why, where it is absent); the
warehouse tests run on the warehouse built from the embedded bundle.
"""
from __future__ import annotations

from collections import Counter

import openpyxl
import pytest

from ingest import catalogue
from ingest.bundle import parse_original
from ingest.errors import LayoutError
from ingest.parsers import ParseContext, parse

from conftest import govwh, query

NEW = ("vcci-pci-2017", "vcci-pci-2018", "vcci-pci-2019", "undp-papi-2011-2019", "undp-papi-2018-full",
       "undp-papi-2019-indicators")


pytestmark = pytest.mark.xdist_group("workbooks_2017_2019")  # one worker builds the module's fixtures once

@pytest.fixture(scope="module")
def parsed(originals):
    return {pid: parse_original(catalogue.get(pid), originals) for pid in NEW + ("undp-papi-2011-2016",)}


def _count(rows, **match):
    return sum(1 for r in rows if all(getattr(r, k) == v for k, v in match.items()))


def test_rows_and_subindicator_counts_per_file(parsed):
    years = catalogue.family("pci").years_carrying("sub_indicators")  # as catalogue/vcci-pci.yml declares
    assert years == (2017, 2018, 2019)
    for year in years:
        rows = parsed[f"vcci-pci-{year}"].rows
        # 63 provinces x (PCI + 10 sub-indices); 128 sub-indicators x 63; Min/Median/Max under each column
        assert _count(rows, grain="score", row_kind="unit") == 63 * 11
        assert len({r.component_code for r in rows if r.grain == "subindicator"}) == 128
        assert _count(rows, grain="subindicator", row_kind="unit") == 128 * 63
        assert _count(rows, row_kind="aggregate") == 3 * (11 + 128)
        assert len(rows) == 9174
    papi19 = parsed["undp-papi-2019-indicators"].rows
    assert len({r.component_code for r in papi19 if r.grain == "subindicator"}) == 130
    assert _count(papi19, grain="subindicator") == 130 * 63
    assert _count(papi19, grain="score") == 63 * (2 + 8 + 29)  # two totals, 8 dimensions, 29 sub-dimensions
    assert len(parsed["undp-papi-2011-2019"].rows) == 17388
    papi18 = parsed["undp-papi-2018-full"].rows
    assert len({r.component_code for r in papi18 if r.grain == "subindicator"}) == 114
    assert _count(papi18, grain="subindicator") == 114 * 63
    assert _count(papi18, grain="score") == 63 * (1 + 8 + 28)  # the total, 8 dimensions, 28 sub-dimensions


def test_pci_2017_traps_second_ha_noi_and_min_median_max(parsed):
    rows = parsed["vcci-pci-2017"].rows
    overall = [r for r in rows if r.component_code == "overall"]
    units = [r for r in overall if r.row_kind == "unit"]
    assert len(units) == 63 and sum(1 for r in units if r.unit_code == "01") == 1  # Hà Nội once
    assert sorted(r.rank for r in units) == list(range(1, 64))
    aggregates = {r.value_status: r for r in overall if r.row_kind == "aggregate"}
    assert set(aggregates) == {"min", "median", "max"}
    assert all(r.unit_code == "" for r in aggregates.values())
    scores = sorted(r.value for r in units)
    assert (aggregates["min"].value, aggregates["median"].value, aggregates["max"].value) == \
        (scores[0], scores[31], scores[-1])
    assert aggregates["max"].cell == "C69"  # the published Max row, at the bottom of the sheet


def test_subindicator_units_and_lineage(parsed):
    rows = {(r.component_code, r.unit_name): r for r in parsed["vcci-pci-2017"].rows
            if r.grain == "subindicator" and r.row_kind == "unit"}
    days = rows[("pci_ec_01", "An Giang")]  # 'Length of business registration in days (Median)'
    assert (days.value, days.sheet, days.cell) == (3.0, "Entry Costs", "C2")
    share = rows[("pci_ec_03", "An Giang")]
    assert share.value == pytest.approx(0.24137930572032928) and share.cell == "E2"


def test_papi_kcdl_is_no_data_never_zero(parsed):
    rows = [r for r in parsed["undp-papi-2011-2019"].rows if r.year == 2018 and r.value_status == "no_data"]
    assert Counter(r.unit_name for r in rows) == {"Quảng Ninh": 10, "Đồng Tháp": 10}
    assert {r.component_code for r in rows} >= {"d2_transparency", "d4_corruption"}
    assert all(r.value is None for r in rows)
    full = [r for r in parsed["undp-papi-2018-full"].rows if r.grain == "score" and r.value_status == "no_data"]
    assert Counter(r.unit_name for r in full) == {"Quang Ninh": 11, "Dong Thap": 11}  # the total as well
    assert {r.component_code for r in full if r.unit_name == "Quang Ninh"} >= {"overall", "d2_transparency"}


def test_papi_2019_intervals_hold_their_scores(parsed):
    totals = [r for r in parsed["undp-papi-2019-indicators"].rows if r.component_code in ("overall", "overall_weighted")]
    assert len(totals) == 126
    assert all(r.ci_low <= r.value <= r.ci_high and r.standard_error > 0 for r in totals)
    ben_tre = next(r for r in totals if r.unit_name == "Ben Tre" and r.component_code == "overall")
    assert (round(ben_tre.value, 2), round(ben_tre.ci_low, 2), round(ben_tre.ci_high, 2)) == (46.74, 46.31, 47.18)


def test_panel_and_per_year_files_agree_where_they_overlap(parsed):
    """The re-issued panel against the 2011-2016 panel, and against the 2019 file: every shared
    figure (province x component x year) is identical. Both are kept as observations."""
    def index(pid):
        return {(r.year, r.unit_code, r.component_code): r.value for r in parsed[pid].rows if r.grain == "score"}

    old, new, y2019 = index("undp-papi-2011-2016"), index("undp-papi-2011-2019"), index("undp-papi-2019-indicators")
    y2018 = index("undp-papi-2018-full")
    shared = set(old) & set(new)
    assert len(shared) == 10962 and all(old[k] == new[k] for k in shared)
    shared = set(new) & set(y2018)  # KCDL sits in the same cells of both
    assert len(shared) == 63 * 36 and all(new[k] == y2018[k] for k in shared)
    shared = set(new) & set(y2019)
    assert len(shared) == 63 * 37 and all(new[k] == y2019[k] for k in shared)
    # the re-issued panel prints no 2018-2019 totals: those come only from the year's own file
    assert not any(k[0] >= 2018 and k[2] == "overall" for k in new)


# ------------------------------------------------------------------ broken inputs (synthetic)
def _ctx(path):
    return ParseContext(path=path, label=path.name, source_sha256="synthetic", source_file=path.name)


def _edited(originals, tmp_path, sheet, cell, value, name, more=()):
    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2018.xlsx", data_only=True)  # formulas as their values
    book[sheet][cell] = value
    for other_cell, other_value in more:
        book[sheet][other_cell] = other_value
    target = tmp_path / name
    book.save(target)
    return target


def test_a_reworded_question_is_refused_until_the_crosswalk_names_it(originals, tmp_path):
    """Synthetic: one sub-indicator header of PCI 2018 reworded."""
    path = _edited(originals, tmp_path, "Entry Costs", "C1", "Days to register a business (mean)", "PCI_2018_reworded.xlsx")
    with pytest.raises(LayoutError, match=r"PCI_2018_reworded\.xlsx: 1 indicator column the crosswalk does not know "
                                          r"for pci 2018 \(a new or reworded question\): Entry Costs!C 'Days to "
                                          r"register a business \(mean\)' under entry_costs; review them with "
                                          r"`govwh crosswalk review vcci-pci-2018`$"):
        parse("vcci_pci_en", catalogue.get("vcci-pci-2018"), _ctx(path))


def test_a_wrong_published_median_is_refused(originals, tmp_path):
    """Synthetic: the Median row under the PCI score no longer summarises the column."""
    path = _edited(originals, tmp_path, "Summary", "C68", 99.5, "PCI_2018_median.xlsx")
    with pytest.raises(LayoutError, match=r"sheet 'Summary', row 68: the published Median of column C .* is 99\.5, "
                                          r"but the 63 provinces give 63\.23"):
        parse("vcci_pci_en", catalogue.get("vcci-pci-2018"), _ctx(path))


def test_a_spotlight_row_that_disagrees_is_refused(originals, tmp_path):
    """Synthetic: the repeated 'Ha Noi' row below the table carries another score."""
    path = _edited(originals, tmp_path, "Summary", "C66", 12.0, "PCI_2018_spotlight.xlsx")
    with pytest.raises(LayoutError, match=r"row 66: the 'Ha Noi' row below the table differs from Hà Nội's row"):
        parse("vcci_pci_en", catalogue.get("vcci-pci-2018"), _ctx(path))


def test_a_share_above_one_is_refused(originals, tmp_path):
    """Synthetic: the province with the highest share (%) on one sub-indicator given as a percentage,
    and the published Max row with it (so the aggregate check passes and the range guard speaks)."""
    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2018.xlsx", read_only=True, data_only=True)
    column = [row[0] for row in book["Entry Costs"].iter_rows(min_row=2, max_row=64, min_col=5, max_col=5,
                                                               values_only=True)]
    book.close()
    top = 2 + column.index(max(column))
    path = _edited(originals, tmp_path, "Entry Costs", f"E{top}", 24.1, "PCI_2018_share.xlsx", [("E69", 24.1)])
    with pytest.raises(LayoutError, match=rf"pci_ec_03 .* = 24\.1 for '.+' is outside \[0, 1\], the range of "
                                          rf"share_0_1 at cell E{top}"):
        parse("vcci_pci_en", catalogue.get("vcci-pci-2018"), _ctx(path))


# ------------------------------------------------------------------ in the warehouse
def test_pci_2018_is_a_complete_table_with_sub_indices(built_warehouse):
    out = govwh(built_warehouse, "rank", "--indicator", "pci", "--year", "2018")
    assert out.returncode == 0, out.stderr
    assert sum(1 for line in out.stdout.splitlines() if " of 63 " in line) == 63
    assert "Quảng Ninh" in out.stdout and "70.36" in out.stdout
    out = govwh(built_warehouse, "rank", "--indicator", "pci", "--year", "2018", "--component", "entry_costs")
    assert sum(1 for line in out.stdout.splitlines() if " of 63 " in line) == 63
    assert "computed (complete table)" in out.stdout


def test_papi_2019_ranks_carry_their_bands(built_warehouse):
    out = govwh(built_warehouse, "rank", "--indicator", "papi", "--year", "2019")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if " of 63 " in line]
    assert len(lines) == 63
    assert "band (95%)" in out.stdout and "series since 2018" in out.stdout
    assert "Bến Tre" in lines[0] and "1-9" in lines[0] and "46.31-47.18" in lines[0]
    bands = query(built_warehouse, """select min(rank_best), max(rank_worst), count(*) from marts.fct_rankings
        where indicator_code = 'papi' and year = 2019 and component_code = 'overall'
          and rank between rank_best and rank_worst""")
    assert bands == [(1, 63, 63)]


def test_subindicators_in_the_marts(built_warehouse):
    counts = query(built_warehouse, """select indicator_code, year, count(distinct subindicator_code), count(*)
        from marts.fct_subindicator_values group by all order by 1, 2""")
    assert counts == [("papi", 2018, 114, 7182), ("papi", 2019, 130, 8190), ("pci", 2017, 128, 8064),
                      ("pci", 2018, 128, 8064), ("pci", 2019, 128, 8064)]
    stable = query(built_warehouse, "select count(*) from marts.dim_subindicator where indicator_code = 'pci' "
                                    "and years_published = 3")
    assert stable == [(93,)]
    assert query(built_warehouse, "select count(*), count(*) filter (where reconciles) "
                                  "from marts.mart_subindicator_summary where published_min is not null") == [(384, 384)]


def test_preferred_sources_and_no_conflict_between_the_panels(built_warehouse):
    # 2011-2017: 29 components from the re-issued panel; 2018: the total and 36 from the year's own
    # file (KCDL kept as no_data); 2019: 2 totals and 37 from the year's own file
    picked = query(built_warehouse, """select value_publication_id, count(*) from marts.fct_indicator_scores
        where indicator_code = 'papi' and value_source_type = 'publisher_file' group by all order by 1""")
    assert picked == [("undp-papi-2011-2019", 63 * 29 * 7), ("undp-papi-2018-full", 63 * 37),
                      ("undp-papi-2019-indicators", 63 * 39)]
    conflicts = query(built_warehouse, """select count(*) from marts.mart_conflicts
        where publication_a like 'undp-%' and publication_b like 'undp-%'""")
    assert conflicts == [(0,)]


def test_papi_2018_ranks_the_61_provinces_with_a_total(built_warehouse):
    out = govwh(built_warehouse, "rank", "--indicator", "papi", "--year", "2018")
    assert out.returncode == 0, out.stderr
    assert sum(1 for line in out.stdout.splitlines() if " of 61 " in line) == 61
    no_total = query(built_warehouse, """select unit_name, value_status from marts.fct_indicator_scores
        where indicator_code = 'papi' and year = 2018 and component_code = 'overall' and value is null order by 1""")
    assert no_total == [("Quảng Ninh", "no_data"), ("Đồng Tháp", "no_data")]
    # a news page's rank 43 for Huế agrees with the workbook's order, so the table is ranked
    hue = query(built_warehouse, """select rank, rank_source from marts.fct_rankings
        where indicator_code = 'papi' and year = 2018 and component_code = 'overall' and unit_key = '46'""")
    assert hue == [(43, "published")]


def test_streaks_settled_by_exclusion_and_labels(built_warehouse):
    qn = query(built_warehouse, """select streak_top1_years, streak_top1_status from marts.mart_streaks
        where indicator_code = 'par_index' and unit_key = '22' and year = 2020""")
    assert qn == [(4, "exact")]  # Đà Nẵng holds rank 1 of 2016
    order = query(built_warehouse, """select count(*) from marts.fct_rankings where rank_source = 'publisher_order'""")
    assert order == [(4861,)]
