"""The tidy-bundle parser (every guard in DuckDB) and publications registered through
GOVWH_CATALOGUE_EXTRA. The bad bundles here are SYNTHETIC: the embedded PCI 2017 bundle with one
line edited, to see each guard name the file, the line and the cause.
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import duckdb
import pytest

from ingest import catalogue
from ingest.config import Settings
from ingest.errors import CatalogueError, ConfigError, LayoutError
from ingest.landing import sha256_file
from ingest.parsers import ParseContext, parse
from ingest.tidy import read_bundle, row_from_strings, write_parquet

from conftest import assert_one_line_error, assert_untouched, govwh, snapshot

PUB = catalogue.get("vcci-pci-2017")
LINES = gzip.decompress(PUB.bundle_file.read_bytes()).decode("utf-8").split("\n")  # line 1 is the header


def _ctx(path: Path) -> ParseContext:
    return ParseContext(path=path, label=f"{PUB.id} ({path.name})", source_sha256=sha256_file(path),
                        source_file=path.name)


def _bundle(tmp_path: Path, lines: list[str], name="edited.csv.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    return path


def _line_of(text: str) -> int:
    """1-based line number of the first line holding text."""
    return next(i for i, line in enumerate(LINES, start=1) if text in line)


@pytest.mark.parametrize("pub_id", ["vcci-pci-2017", "undp-papi-2011-2019", "vcci-pci-2005"])
def test_the_duckdb_parser_writes_what_the_row_by_row_reader_wrote(pub_id, tmp_path):
    """Same rows, values, types and order as the Python reader it replaced (kept in ingest.tidy)."""
    pub = catalogue.get(pub_id)
    ctx = ParseContext(path=pub.bundle_file, label=pub_id, source_sha256="x", source_file=pub.bundle_file.name)
    result = parse("tidy_bundle", pub, ctx)
    result.write(tmp_path / "new.parquet", "landed-hash")
    write_parquet([row_from_strings(d) for d in read_bundle(pub.bundle_file)], tmp_path / "old.parquet",
                  "landed-hash")
    con = duckdb.connect()
    new = con.execute("select * from read_parquet(?)", [str(tmp_path / "new.parquet")]).fetchall()
    old = con.execute("select * from read_parquet(?)", [str(tmp_path / "old.parquet")]).fetchall()
    types = [con.execute("select column_name, column_type from (describe select * from read_parquet(?))",
                         [str(tmp_path / f)]).fetchall() for f in ("new.parquet", "old.parquet")]
    assert result.count == len(new) == len(old) > 400
    assert new == old and types[0] == types[1]


def _edit(line_no: int, old: str, new: str) -> list[str]:
    lines = list(LINES)
    assert old in lines[line_no - 1]
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    return lines


HA_GIANG = _line_of(",Ha Giang,02,overall,")
CASES = {
    "a renamed column": (lambda: _edit(1, "unit_code", "province_code"),
                         r"line 1: columns \[.*'province_code'.*\] differ from the tidy schema"),
    "a field too many": (lambda: _edit(HA_GIANG, ",Ha Giang,", ",Ha Giang,extra,"),
                         rf"line {HA_GIANG}: cannot read bundle \(a field too many: expected 21\)"),
    "a field too few": (lambda: _edit(HA_GIANG, ",Ha Giang,02,", ",02,"),
                        rf"line {HA_GIANG}: cannot read bundle \(a field too few: expected 21\)"),
    "two fields too many": (lambda: _edit(HA_GIANG, ",Ha Giang,", ",Ha Giang,x,y,"),
                            rf"line {HA_GIANG}: cannot read bundle \(23 fields, expected 21\)"),
    "a year that is not a number": (lambda: _edit(HA_GIANG, ",2017,", ",2O17,"),
                                    rf"line {HA_GIANG}: bad value \(year = '2O17' is not integer\)"),
    "a score that is not a number": (lambda: _edit(HA_GIANG, ",59.156009674072266,",
                                                   ",n/a,"),
                                     rf"line {HA_GIANG}: bad value \(value = 'n/a' is not double\)"),
    "a row of another publication": (lambda: _edit(HA_GIANG, "vcci-pci-2017,", "vcci-pci-2018,"),
                                     rf"line {HA_GIANG}: row belongs to vcci-pci-2018 2017, not vcci-pci-2017"),
    "an unknown province": (lambda: _edit(HA_GIANG, ",Ha Giang,", ",Ha Giangg,"),
                            rf"line {HA_GIANG}: unknown unit name 'Ha Giangg' in 2017; nearest candidates: "
                            r"Hà Giang \(02\)"),
    "a name recorded with another code": (lambda: _edit(HA_GIANG, ",Ha Giang,02,", ",Ha Giang,04,"),
                                          rf"line {HA_GIANG}: 'Ha Giang' resolves to 02, bundle says 04"),
    "a province missing": (lambda: [line for line in LINES if ",Ha Giang,02," not in line],
                           r"2017: 62 units with an 'overall' figure, expected 63"),
    "an aggregate with a unit": (lambda: _edit(2, ",Max,,", ",Max,02,"),
                                 r"line 2: aggregate row 'Max' carries unit 02"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_bundle_is_named_by_file_line_and_cause(case, tmp_path):
    lines, pattern = CASES[case]
    path = _bundle(tmp_path, lines())
    with pytest.raises(LayoutError) as err:
        parse("tidy_bundle", PUB, _ctx(path))
    assert str(err.value).startswith(f"{PUB.id} (edited.csv.gz)") and "\n" not in str(err.value)
    assert re.search(pattern, str(err.value)), str(err.value)


def test_a_truncated_bundle_is_refused(tmp_path):
    data = PUB.bundle_file.read_bytes()
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LayoutError, match=r"vcci-pci-2017 \(cut.csv.gz\): cannot read bundle \(.*end of GZIP"):
        parse("tidy_bundle", PUB, _ctx(path))


# ---------------------------------------------------------------- GOVWH_CATALOGUE_EXTRA
def _entry(**over) -> dict:
    entry = {"id": "synthetic-extra", "indicator": "pci", "level": "province", "years": [2017],
             "publisher": "SYNTHETIC test fixture", "title": "SYNTHETIC: PCI 2017 re-registered",
             "licence": "SYNTHETIC", "file": "extra.csv.gz", "expected_units": 63}
    entry.update(over)
    return entry


def _register(folder: Path, *entries: dict, lines: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = "\n".join(lines or LINES).replace("vcci-pci-2017,", "synthetic-extra,")
    (folder / "extra.csv.gz").write_bytes(gzip.compress(body.encode("utf-8")))
    path = folder / "catalogue.json"
    path.write_text(json.dumps({"publications": list(entries)}), encoding="utf-8")
    return path


def test_a_registered_bundle_is_a_publisher_file_read_by_the_tidy_bundle_parser(tmp_path):
    path = _register(tmp_path, _entry(units_per_year={"2017": 63}))
    settings = Settings.from_env({"GOVWH_DATA_DIR": str(tmp_path / "data"), "GOVWH_CATALOGUE_EXTRA": str(path)})
    (pub,) = [p for p in catalogue.publications(settings) if p.id == "synthetic-extra"]
    assert pub.source_url(settings) == (tmp_path / "extra.csv.gz").as_uri()
    assert (pub.parser_for(settings), pub.units_in(2017), pub.source_type) == ("tidy_bundle", 63, "publisher_file")
    assert len(catalogue.publications(settings)) == len(catalogue.publications(None)) + 1


@pytest.mark.parametrize("entry, message", [
    (_entry(id="../outside"), r"publication 1: id must be"),
    (_entry(id="vcci-pci-2017"), r"publication id 'vcci-pci-2017' is already taken"),
    (_entry(file="../extra.csv.gz"), r"file must name a \.csv\.gz file beside catalogue\.json"),
    (_entry(level="ministry"), r"level must be 'province'"),
    (_entry(years=["2017"]), r"publication 1: years must be a year 1990..2100, not .2017."),
    (_entry(title="two\nlines"), r"title must be a single line"),
    (_entry(units_per_year={"2016": 63}), r"units_per_year must map years of the publication"),
    (_entry(sql="drop table x"), r"unknown field 'sql'"),
])
def test_a_bad_registration_is_refused_naming_the_field(entry, message, tmp_path):
    path = _register(tmp_path, entry)
    with pytest.raises(CatalogueError, match=r"GOVWH_CATALOGUE_EXTRA=.*catalogue\.json.*: " + message):
        catalogue.extra(path)


def test_the_variable_must_name_a_json_file(tmp_path):
    with pytest.raises(ConfigError, match=r"GOVWH_CATALOGUE_EXTRA=.* must name an existing \.json file"):
        Settings.from_env({"GOVWH_CATALOGUE_EXTRA": str(tmp_path / "missing.json")})


def test_a_registered_bundle_that_fails_a_guard_loads_nothing(warehouse_copy, tmp_path):
    """Through the real command line: one line naming the registered file and line; the serving
    warehouse, the raw files and the parsed layer as they were."""
    lines = [line for line in LINES if ",Ha Giang,02," not in line]
    lines[HA_GIANG - 1] = lines[HA_GIANG - 1].replace(",2017,", ",2O17,", 1)
    path = _register(tmp_path / "registered", _entry(), lines=lines)
    before = snapshot(warehouse_copy)
    parsed_before = sorted(p.name for p in warehouse_copy.parsed_dir.rglob("*.parquet"))
    proc = govwh(warehouse_copy, "run", "--direct", env={"GOVWH_CATALOGUE_EXTRA": str(path)})
    assert_one_line_error(proc, rf"synthetic-extra \(extra.csv.gz\), line {HA_GIANG}: bad value \(year = '2O17'")
    assert_untouched(warehouse_copy, before)
    assert sorted(p.name for p in warehouse_copy.parsed_dir.rglob("*.parquet")) == parsed_before
    sha = sha256_file(tmp_path / "registered" / "extra.csv.gz")
    landed = [p for p in warehouse_copy.raw_dir.glob("*/*") if p.name.startswith(sha)]
    assert len(landed) == 1  # fetched and landed by content hash, kept though it was refused


def test_a_curated_page_taking_a_registered_bundles_id_names_both(tmp_path):
    """A SYNTHETIC curated page whose id is the one a registered bundle uses: the error names the
    page and the bundle with its registration file (not 'a publisher file in the catalogue')."""
    from conftest import write_curated

    path = _register(tmp_path / "extra", _entry())
    folder = tmp_path / "curated"
    folder.mkdir()
    write_curated(folder, "zz-clash", "SIPAS,province,2012,Quảng Ninh,81.25,,,,synthetic\n", pub="synthetic-extra")
    settings = Settings.from_env({"GOVWH_DATA_DIR": str(tmp_path / "data"), "GOVWH_CATALOGUE_EXTRA": str(path),
                                  "GOVWH_CURATED_DIR": str(folder)})
    with pytest.raises(CatalogueError) as err:
        catalogue.publications(settings)
    assert str(err.value) == (f"curated file zz-clash.csv (in {folder}) uses the publication id 'synthetic-extra' of "
                              f"the bundle extra.csv.gz registered in {path}; give the page its own id")
