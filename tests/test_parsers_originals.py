"""The parsers on the publishers' own files (../shared/sources/originals).

Each test reads the originals; they skip, saying why, only where that folder is absent.
"""
from __future__ import annotations

import warnings

import openpyxl
import pytest
import xlrd

from ingest import catalogue, names
from ingest.bundle import parse_original
from ingest.errors import LayoutError, UnknownUnitError
from ingest.landing import sha256_file
from ingest.parsers import ParseContext, parse
from ingest.tidy import read_bundle, row_from_strings, sort_key

from expected import PCI_LEADERS

pytestmark = pytest.mark.xdist_group("parsers_originals")  # one worker builds the module's fixtures once

@pytest.fixture(scope="module")
def parsed(originals):
    return {pub.id: parse_original(pub, originals) for pub in catalogue.CATALOGUE}


def test_every_publication_parses_with_expected_units(parsed):
    for pub in catalogue.CATALOGUE:
        rows = parsed[pub.id].rows
        for year in pub.years:
            units = {r.unit_code for r in rows if r.year == year and r.component_code == pub.count_component
                     and r.row_kind == "unit" and r.grain == "score"}
            assert len(units) == pub.expected_units, (pub.id, year)


def test_pci_leaders_and_2016_top_two(parsed):
    for year, leader in PCI_LEADERS.items():
        top = [r for r in parsed[f"vcci-pci-{year}"].rows if r.component_code == "overall" and r.rank == 1
               and r.row_kind == "unit"]
        # names are kept exactly as published (2010 in ASCII; some workbooks store NFD)
        assert [r.unit_code for r in top] == [names.provinces().lookup(leader, year)], year
    rows16 = {r.unit_name: r for r in parsed["vcci-pci-2016"].rows if r.component_code == "overall"}
    assert (round(rows16["Đà Nẵng"].value, 2), rows16["Đà Nẵng"].rank) == (70.00, 1)
    assert (round(rows16["Quảng Ninh"].value, 2), rows16["Quảng Ninh"].rank) == (65.60, 2)
    assert rows16["Đà Nẵng"].tier == "Rất tốt"


def test_sub_index_sets_follow_the_eras(parsed):
    def comps(year):
        return {r.component_code for r in parsed[f"vcci-pci-{year}"].rows}

    assert "central_policy" in comps(2005) and "central_policy" not in comps(2006)
    assert "soe_bias" in comps(2008) and "soe_bias" not in comps(2012)
    assert "equal_competition" in comps(2013) and "equal_competition" not in comps(2012)
    assert len(comps(2012) - {"overall", "overall_unweighted"}) == 9
    assert len(comps(2016) - {"overall", "overall_unweighted"}) == 10


def test_papi_2014_exclusions_are_not_scored_not_zero(parsed):
    rows = [r for r in parsed["undp-papi-2011-2016"].rows if r.year == 2014 and r.component_code == "overall"]
    excluded = sorted(r.unit_name for r in rows if r.value_status == "not_scored")
    assert excluded == ["Bắc Giang", "Đồng Tháp"]
    assert all(r.value is None for r in rows if r.value_status == "not_scored")
    assert all(r.value > 0 for r in rows if r.value_status == "published")


def _cell_value(book, sheet, cell):
    col = "".join(ch for ch in cell if ch.isalpha())
    row = int(cell[len(col):])
    col_idx = 0
    for ch in col:
        col_idx = col_idx * 26 + ord(ch) - 64
    if isinstance(book, xlrd.book.Book):
        return book.sheet_by_name(sheet).cell_value(row - 1, col_idx - 1)
    return book[sheet].cell(row=row, column=col_idx).value


def test_every_parsed_value_equals_its_cell_in_the_original(parsed, originals):
    """Lineage is exact: re-read each row's (sheet, cell) from the original and compare: every
    score, sub-indicator and published Min / Median / Max of every file."""
    checked, expected = 0, 0
    for pub in catalogue.CATALOGUE:
        path = originals / pub.original_relpath
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = (xlrd.open_workbook(str(path)) if pub.format == "xls"
                    else openpyxl.load_workbook(path, data_only=True))
        for r in parsed[pub.id].rows:
            if r.value is None:
                continue
            expected += 1
            assert float(_cell_value(book, r.sheet, r.cell)) == r.value, (pub.id, r.sheet, r.cell)
            checked += 1
            if r.ci_low is not None:  # PAPI 2019: low, high and standard error beside each total
                columns = {"overall_weighted": "CDF", "overall": "GHJ"}[r.component_code]
                for value, column in zip((r.ci_low, r.ci_high, r.standard_error), columns):
                    assert float(_cell_value(book, r.sheet, column + r.cell[1:])) == value, (pub.id, r.cell)
                    checked += 1
                    expected += 1
    assert checked == expected == 84_173  # every non-empty figure of the 19 files, intervals included


def test_bundle_equals_parser_output_value_for_value(parsed, originals):
    for pub in catalogue.CATALOGUE:
        bundled = [row_from_strings(d) for d in read_bundle(pub.bundle_file)]
        fresh = sorted(parsed[pub.id].rows, key=sort_key)
        assert bundled == fresh, f"{pub.bundle_file.name} is stale: run `make bundle`"
        assert {r.source_sha256 for r in bundled} == {sha256_file(originals / pub.original_relpath)}


def test_extra_columns_are_reported(parsed):
    assert any("unexpected column AA" in w for w in parsed["vcci-pci-2016"].warnings)


# ------------------------------------------------------------------ broken inputs (synthetic)
def _ctx(path):
    return ParseContext(path=path, label=path.name, source_sha256="synthetic", source_file=path.name)


def test_renamed_sheet_fails_naming_file_and_sheets(originals, tmp_path):
    """Synthetic: the 2016 workbook with its summary sheet renamed."""
    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2016.xlsx")
    book["Summary_VN"].title = "Tong ket"
    target = tmp_path / "PCI_2016_renamed.xlsx"
    book.save(target)
    with pytest.raises(LayoutError) as err:
        parse("vcci_pci", catalogue.get("vcci-pci-2016"), _ctx(target))
    assert "PCI_2016_renamed.xlsx" in str(err.value)
    assert "['Summary_VN']" in str(err.value) and "Tong ket" in str(err.value)


def test_truncated_workbook_fails_naming_file(originals, tmp_path):
    data = (originals / "vcci-pci/PCI_2016.xlsx").read_bytes()
    target = tmp_path / "PCI_2016_truncated.xlsx"
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(LayoutError, match=r"PCI_2016_truncated\.xlsx: cannot open workbook .*truncated"):
        parse("vcci_pci", catalogue.get("vcci-pci-2016"), _ctx(target))


def test_unknown_province_fails_with_row_and_candidates(originals, tmp_path):
    """Synthetic: one province name in the 2016 workbook replaced by a name that is no province."""
    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2016.xlsx")
    sheet = book["Summary_VN"]
    assert sheet["B5"].value is not None
    sheet["B5"] = "Tỉnh Mới Lạ"
    target = tmp_path / "PCI_2016_unknown.xlsx"
    book.save(target)
    with pytest.raises(UnknownUnitError) as err:
        parse("vcci_pci", catalogue.get("vcci-pci-2016"), _ctx(target))
    text = str(err.value)
    assert "PCI_2016_unknown.xlsx" in text and "'Summary_VN'" in text and "row 5" in text
    assert "'Tỉnh Mới Lạ'" in text and len(err.value.candidates) == 3


def test_wrong_unit_count_fails(originals, tmp_path):
    """Synthetic: the last province row of 2016 blanked out, so 62 units remain."""
    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2016.xlsx")
    sheet = book["Summary_VN"]
    for cell in sheet[64]:
        cell.value = None
    target = tmp_path / "PCI_2016_short.xlsx"
    book.save(target)
    with pytest.raises(LayoutError, match="62 units .* expected 63"):
        parse("vcci_pci", catalogue.get("vcci-pci-2016"), _ctx(target))


def test_value_out_of_range_fails(originals, tmp_path):
    """Synthetic: a sub-index of 2016 set to 55 on a 0-10 scale."""
    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2016.xlsx")
    book["Summary_VN"]["C3"] = 55.0
    target = tmp_path / "PCI_2016_range.xlsx"
    book.save(target)
    with pytest.raises(LayoutError, match=r"entry_costs = 55.0 .* outside \[0.0, 10.01\] at cell C3"):
        parse("vcci_pci", catalogue.get("vcci-pci-2016"), _ctx(target))


def test_a_province_listed_twice_names_the_province_column(originals, tmp_path):
    """Synthetic: the 2016 workbook's row 5 names the province of row 4 again. The error names the
    column where the name is repeated (the province column), not the figure column read first."""
    book = openpyxl.load_workbook(originals / "vcci-pci/PCI_2016.xlsx")
    sheet = book["Summary_VN"]
    sheet["B5"] = sheet["B4"].value
    target = tmp_path / "PCI_2016_twice.xlsx"
    book.save(target)
    with pytest.raises(LayoutError) as err:
        parse("vcci_pci", catalogue.get("vcci-pci-2016"), _ctx(target))
    text = str(err.value)
    assert f"{sheet['B4'].value!r} appears twice in the province column B (rows 4 and 5), so column " in text, text
    assert "'Summary_VN'" in text and "row 5" in text
