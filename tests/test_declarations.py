"""Publications declared in data (catalogue/<family>.yml): one loader, one line per edition, and
a bad declaration stops everything with one line naming the file, its line and the cause."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ingest import catalogue, declarations
from ingest.config import CATALOGUE_DIR, ConfigError, Settings
from ingest.errors import CatalogueError

from conftest import take_edition_line


@pytest.fixture()
def decl(tmp_path) -> Path:
    """A copy of the repo's declarations, to edit."""
    folder = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, folder)
    return folder


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in ln)


def test_the_declarations_give_every_catalogue_entry_and_its_counts():
    pci, papi = catalogue.family("pci"), catalogue.family("papi")
    assert pci.years == tuple(range(2005, 2020)) and papi.years == tuple(range(2011, 2020))
    assert [pci.units_in(y) for y in (2005, 2006, 2008, 2009, 2019)] == [42, 64, 64, 63, 63]
    assert pci.years_carrying("sub_indicators") == (2017, 2018, 2019)
    by_id = {p.id: p for p in catalogue.CATALOGUE}
    assert by_id["vcci-pci-2006"].layout["sheets"] == ["PCI Tóm tắt"]
    assert by_id["vcci-pci-2006"].expected_units == 64 and by_id["vcci-pci-2006"].parser == "vcci_pci"
    assert by_id["vcci-pci-2019"].parser == "vcci_pci_en"
    assert by_id["vcci-pci-2019"].origin_url == (
        "https://raw.githubusercontent.com/mdtrinh/vietnam_elections/84348767096a193634f9d4fb6c4116dbf4789a05/"
        "Data/PCI/PCI%202019.xlsx")
    panel = by_id["undp-papi-2011-2019"]
    assert panel.years == tuple(range(2011, 2020)) and panel.preference == 40
    assert panel.count_component == "d1_participation"


def test_a_year_dropped_from_a_declaration_leaves_the_catalogue_and_every_panel(decl):
    take_edition_line(decl / "vcci-pci.yml", 2019)
    take_edition_line(decl / "undp-papi.yml", 2019)
    ids = {p.id: p for p in catalogue.declared(decl)}
    assert "vcci-pci-2019" not in ids and "undp-papi-2019-indicators" not in ids
    assert len(ids) == len(catalogue.CATALOGUE) - 2
    # the re-issued panel spans 2011-2019 but reads only the years declared
    assert ids["undp-papi-2011-2019"].years == tuple(range(2011, 2019))
    assert ids["undp-papi-2011-2016"].years == tuple(range(2011, 2017))
    # and the pipeline's settings follow GOVWH_CATALOGUE_DIR
    settings = Settings.from_env({"GOVWH_CATALOGUE_DIR": str(decl)})
    assert settings.catalogue_dir == decl
    assert "vcci-pci-2019" not in {p.id for p in catalogue.publications(settings)}


def test_a_year_added_back_is_one_line(decl):
    path = decl / "vcci-pci.yml"
    line = take_edition_line(path, 2019)
    before = catalogue.declared(decl)
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")
    after = catalogue.declared(decl)
    assert [p.id for p in after if p.id not in {b.id for b in before}] == ["vcci-pci-2019"]
    assert sorted(map(repr, after)) == sorted(map(repr, catalogue.CATALOGUE))


@pytest.mark.parametrize("edit, needle, message", [
    (("{year: 2019,", "{yaer: 2019, year: 2019,"), "{yaer: 2019",
     r"unknown field 'yaer' \(known: .*\)"),
    (("{year: 2018,", "{year: 2017,"), "PCI%202018.xlsx",
     r"\(edition 2017\): 2017 is declared twice"),
    (("{year: 2019, origin: vietnam_elections", "{year: 2019, origin: elsewhere"), "origin: elsewhere",
     r"origin 'elsewhere' is not declared under origins \(vietnamdata, vietnam_elections\)"),
    (('"Data/PCI/PCI%202019.xlsx"', '"../../etc/passwd.xlsx"'), "passwd",
     r"path '\.\./\.\./etc/passwd\.xlsx' must be a relative path without '\.\.'"),
    (("{year: 2009, origin", "{year: 2009, units: 0, origin"), "{year: 2009, units: 0",
     r"\(edition 2009\): units must be a whole number 1\.\.100000"),
    (("{years: [2005, 2005], parser: vcci_pci,", "{years: [2006, 2006], parser: vcci_pci,"),
     "{years: [2006, 2006], parser: vcci_pci, kind: rows, sheets: [\"Bảng",
     r"layouts \[2006, 2006\] and \[2006, 2006\] overlap"),
])
def test_a_bad_declaration_is_one_line_naming_the_file_line_and_cause(decl, edit, needle, message):
    path = decl / "vcci-pci.yml"
    text = path.read_text(encoding="utf-8")
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        catalogue.declared(decl)
    said = str(caught.value)
    assert "\n" not in said and said.startswith("vcci-pci.yml"), said
    assert re.search(message, said), said
    if "overlap" not in said:  # a field's error names the line it is on
        assert f"line {_line_of(path, needle)} " in said, said


def test_a_year_no_layout_covers_is_refused(decl):
    path = decl / "vcci-pci.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{years: [2005, 2005], parser: vcci_pci,", "{years: [2004, 2004], parser: vcci_pci,"),
                    encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"vcci-pci\.yml, line \d+ \(edition 2005\): no layout declared for 2005"):
        catalogue.declared(decl)


def test_a_declaration_that_is_not_yaml_or_not_utf8_names_its_line(decl):
    path = decl / "undp-papi.yml"
    path.write_text(path.read_text(encoding="utf-8") + "  - {year: 2020\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"undp-papi\.yml: line \d+, column \d+: not valid YAML"):
        declarations.load_family(path)
    path.write_bytes("family: undp-papi\npublisher: UNDP Vi\xea t Nam\n".encode("latin-1"))
    with pytest.raises(CatalogueError, match=r"undp-papi\.yml: not UTF-8 at byte"):
        declarations.load_family(path)


def test_the_family_file_name_and_the_folder_are_checked(decl, tmp_path):
    (decl / "vcci-pci.yml").rename(decl / "pci.yml")
    with pytest.raises(CatalogueError, match=r"^pci\.yml, line \d+ \(family\): family 'vcci-pci' must match"):
        catalogue.declared(decl)
    with pytest.raises(CatalogueError, match=r"no <family>\.yml declarations in it"):
        catalogue.declared(tmp_path / "nothing-here")
    with pytest.raises(ConfigError, match=r"GOVWH_CATALOGUE_DIR=.*is not a folder \(of <family>\.yml declarations\)"):
        Settings.from_env({"GOVWH_CATALOGUE_DIR": str(tmp_path / "nothing-here")})


def test_a_family_of_curated_pages_declares_editions_and_a_watch_but_no_file(decl):
    """PAR INDEX and SIPAS: the Ministry publishes no data file, so their declarations name no
    origin; they add nothing to the catalogue and a file or a `land: true` in them is refused."""
    par, sipas = catalogue.family("par_index"), catalogue.family("sipas")
    assert par.curated_only and sipas.curated_only and not catalogue.family("pci").curated_only
    assert par.years == tuple(range(2012, 2024)) and sipas.years == (2015, *range(2017, 2024))
    assert par.files == sipas.files == () and {w.confirmed for w in par.watch + sipas.watch} == {False}
    assert not any(p.indicator in ("par_index", "sipas") for p in catalogue.declared(decl))
    path = decl / "moha-sipas.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  - {year: 2023}", "  - {year: 2023, path: sipas/SIPAS_2023.xlsx}"), encoding="utf-8")
    with pytest.raises(CatalogueError, match=rf"^moha-sipas\.yml, line {_line_of(path, 'SIPAS_2023')} \(edition 2023\): "
                                             r"a file needs origins: the family declares none \(curated pages only\)$"):
        catalogue.declared(decl)
    path.write_text(text.replace("    from: 2024", "    from: 2024\n    land: true"), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"^moha-sipas\.yml, line \d+ \(watch\): land: true needs layouts"):
        catalogue.declared(decl)
