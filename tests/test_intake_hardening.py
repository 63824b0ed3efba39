"""Hostile or careless input at intake, through the real command line (`python -m ingest`):
every case ends with exit status 1 and one line naming the file and line, the serving
warehouse byte-identical, no raw file lost and nothing left behind. All files written here
are SYNTHETIC test fixtures (their provenance says so), never real figures.
"""
from __future__ import annotations

import io
import shutil
import unicodedata
import zipfile
from dataclasses import replace

import pytest

from conftest import (SYNTHETIC_HEADER, assert_one_line_error, assert_untouched, curated_copy, garbled_workbook, govwh,
                      query, serve_originals, snapshot, write_curated)

GOOD_ROW = "PAR INDEX,province,2023,Quảng Ninh,91.00,1,,,synthetic\n"


def _with_curated(warehouse_copy, tmp_path):
    folder = curated_copy(tmp_path)
    return replace(warehouse_copy, curated_dir=folder), folder


def _header(pub="curated-zz-hostile", source_url="https://example.invalid/synthetic"):
    return SYNTHETIC_HEADER.format(pub=pub).replace("https://example.invalid/synthetic", source_url)


HOSTILE = {
    # name: (file bytes, expected one-line message)
    "utf-16": ((_header() + GOOD_ROW).encode("utf-16"),
               r"zz-hostile\.csv, line 1: file is UTF-16 .*save it as UTF-8"),
    "windows-1258": ((_header() + GOOD_ROW).replace("Quảng Ninh", "Qu\u00e1ng Ninh").encode("cp1258"),
                     r"zz-hostile\.csv, line 9: not UTF-8: byte 0xe1 .*save the file as UTF-8"),
    "path in the id": ((_header(pub="../../outside") + GOOD_ROW).encode(),
                       r"zz-hostile\.csv, line 1: publication must be 3-96 characters .*, not '\.\./\.\./outside'"),
    "quote in the id": ((_header(pub="curated-o'brien") + GOOD_ROW).encode(),
                        r"zz-hostile\.csv, line 1: publication must be 3-96 characters .*, not \"curated-o'brien\""),
    "javascript url": ((_header(source_url="javascript:alert(1)") + GOOD_ROW).encode(),
                       r"zz-hostile\.csv, line 4: source_url 'javascript:alert\(1\)' is not an http\(s\) URL"),
    "year in the future": ((_header() + GOOD_ROW.replace("2023", "2031")).encode(),
                           r"zz-hostile \(zz-hostile\.csv\), line 9: year '2031' is not a year from 2000 to 20\d\d"),
    "cell over csv's limit": ((_header() + GOOD_ROW.replace("synthetic", "x" * 131_073)).encode(),
                              r"zz-hostile \(zz-hostile\.csv\), line 9: unreadable CSV \(field larger than field limit"),
    "oversize note": ((_header() + GOOD_ROW.replace("synthetic", "y" * 5000)).encode(),
                      r"zz-hostile \(zz-hostile\.csv\), line 9: a cell of 5,000 characters, over the 2,000"),
    "control character": ((_header() + GOOD_ROW.replace("synthetic", "bell\x07")).encode(),
                          r"zz-hostile\.csv, line 9: control character U\+0007"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_curated_file_is_one_line_and_loses_nothing(case, warehouse_copy, tmp_path):
    settings, folder = _with_curated(warehouse_copy, tmp_path)
    data, pattern = HOSTILE[case]
    (folder / "zz-hostile.csv").write_bytes(data)
    before = snapshot(settings)
    proc = govwh(settings, "run", "--direct")
    assert_one_line_error(proc, pattern)
    assert_untouched(settings, before)
    assert not (settings.data_dir / "outside.parquet").exists()  # where parsed.incoming/curated/../../ points


def test_two_files_sharing_an_id_are_both_named(warehouse_copy, tmp_path):
    settings, folder = _with_curated(warehouse_copy, tmp_path)
    write_curated(folder, "zz-first", GOOD_ROW, pub="curated-zz-shared")
    write_curated(folder, "zz-second", GOOD_ROW, pub="curated-zz-shared")
    before = snapshot(settings)
    proc = govwh(settings, "run", "--direct")
    assert_one_line_error(proc, r"curated files zz-first\.csv and zz-second\.csv \(in .*\) share publication id "
                                r"'curated-zz-shared'")
    assert_untouched(settings, before)


@pytest.mark.slow
def test_bom_and_nfd_are_accepted_and_land_as_nfc_and_the_next_good_run_publishes(warehouse_copy, tmp_path):
    """A UTF-8 file with a byte-order mark (Excel's "CSV UTF-8") and decomposed (NFD) text."""
    settings, folder = _with_curated(warehouse_copy, tmp_path)
    text = _header(pub="curated-zz-bom") + unicodedata.normalize("NFD", GOOD_ROW.replace("91.00", "90.99"))
    (folder / "zz-bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    before = snapshot(settings)
    proc = govwh(settings, "run", "--direct")
    assert proc.returncode == 0, proc.stderr
    assert snapshot(settings).serving_sha256 != before.serving_sha256  # published
    rows = query(settings, "select unit_name_as_published, value from marts.fct_observations "
                           "where publication_id = 'curated-zz-bom'")
    assert rows == [("Quảng Ninh", 90.99)]
    assert rows[0][0] == unicodedata.normalize("NFC", rows[0][0])


def test_text_from_the_publishers_files_is_nfc(built_warehouse):
    """The 2009 and 2013-2016 workbooks print some labels in NFD; in the marts all text is NFC,
    so a filter typed on a keyboard (NFC) finds every year."""
    tiers = {t for (t,) in query(built_warehouse, "select distinct tier from marts.fct_rankings where tier is not null")}
    assert tiers == {unicodedata.normalize("NFC", t) for t in ("Rất tốt", "Tốt", "Khá", "Trung bình", "Tương đối thấp", "Thấp")}
    years = query(built_warehouse, "select count(distinct year) from marts.fct_rankings where indicator_code = 'pci' "
                                   "and component_code = 'overall' and tier = 'Tốt'")
    assert years == [(9,)]  # every PCI year with tiers: 2005, 2007, 2010-2016
    names = {n for (n,) in query(built_warehouse, "select distinct component_name_as_published from marts.fct_observations "
                                                  "where indicator_code = 'pci' and year in (2009, 2013)")}
    assert "Hỗ trợ doanh nghiệp" in names
    (bad,) = query(built_warehouse, "select count(*) from marts.fct_observations where "
                                    "component_name_as_published <> nfc_normalize(component_name_as_published)")
    assert bad == (0,)


# ------------------------------------------------------------------ publisher workbooks
def _zip_bomb() -> bytes:
    """SYNTHETIC: a workbook-shaped zip whose one part unpacks to 100 MB of zeros."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            block = b"\0" * (1 << 20)
            for _ in range(100):
                part.write(block)
    return buf.getvalue()


@pytest.mark.parametrize("case, body, pattern", [
    ("zip bomb", _zip_bomb, r"vcci-pci-2016 \(PCI_2016\.xlsx\): refused: the workbook's 2 parts unpack to "
                            r"104,857,608 bytes .*a zip bomb"),
    ("garbled", garbled_workbook, r"vcci-pci-2016 \(PCI_2016\.xlsx\), sheet 'Summary_VN', row 2: no table found "
                                   r"below the header"),
])
def test_hostile_workbook_is_one_line_and_loses_nothing(case, body, pattern, warehouse_copy, originals,
                                                        http_server):
    """Served over a real HTTP server standing in for the publisher (mirror mode)."""
    serve_originals(http_server, originals, overrides={"vcci-pci-2016": body()})
    settings = replace(warehouse_copy, source_mode="mirror", mirror=http_server.base)
    before = snapshot(settings)
    proc = govwh(settings, "run", "--direct", env={"GOVWH_SOURCE": "mirror", "GOVWH_MIRROR": http_server.base})
    line = assert_one_line_error(proc, pattern)
    assert "IndexError" not in line
    assert_untouched(settings, before)
    shutil.rmtree(settings.data_dir / "parsed.incoming", ignore_errors=True)


def test_a_parser_bug_still_ends_as_one_line_naming_the_file(monkeypatch, tmp_path):
    """Whatever a parser did not foresee (here a SYNTHETIC IndexError) is a LayoutError naming the file."""
    from types import SimpleNamespace

    from ingest import parsers
    from ingest.errors import LayoutError

    def broken(pub, ctx):
        return [][1]

    monkeypatch.setattr(parsers, "get_parser", lambda name: SimpleNamespace(parse=broken))
    ctx = parsers.ParseContext(path=tmp_path / "x.xlsx", label="vcci-pci-2016 (PCI_2016.xlsx)",
                               source_sha256="0" * 64, source_file="PCI_2016.xlsx")
    with pytest.raises(LayoutError, match=r"^vcci-pci-2016 \(PCI_2016\.xlsx\): unexpected layout: the vcci_pci parser "
                                          r"failed with IndexError: list index out of range; nothing of it was loaded$"):
        parsers.parse("vcci_pci", None, ctx)


def test_paths_with_quotes_are_bound_not_pasted_into_sql(tmp_path):
    """A data folder named with a quote (legal on disk) writes Parquet fine: paths are SQL parameters."""
    import duckdb

    from ingest.tidy import TidyRow, write_parquet

    row = TidyRow("vcci-pci-2016", "pci", "province", 2016, "Đà Nẵng", "48", "overall", "PCI", 70.0, "published", 1,
                  None, "PCI_2016.xlsx", "0" * 64, "Summary_VN", "W2")
    target = tmp_path / "o'brien; drop table x --" / "out.parquet"
    write_parquet([row], target, landed_sha256="f" * 64)
    got = duckdb.connect().execute("select unit_name, value, landed_sha256 from read_parquet(?)", [str(target)]).fetchall()
    assert got == [("Đà Nẵng", 70.0, "f" * 64)]
