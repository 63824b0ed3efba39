"""A known layout's new year is one line: a warehouse built from declarations without PCI 2019 and
PAPI 2019 takes each back from one added line under `editions`, fetched from a publisher-like
server, and ends with marts identical to the warehouse of the full declarations."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest import catalogue, pipeline
from ingest.config import CATALOGUE_DIR

from conftest import make_settings, marts_differences, query, serve_originals, take_edition_line

pytestmark = pytest.mark.slow  # three pipeline runs from the originals


def _add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")


def _source_years(settings, indicator: str) -> list[int]:
    return [y for (y,) in query(settings, "select distinct year from marts.fct_indicator_scores where indicator_code = ? "
                                          "and value_source_type = 'publisher_file' order by 1", [indicator])]


def test_pci_2019_and_papi_2019_come_back_from_one_line_each(built_warehouse, originals, http_server, tmp_path):
    decl = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, decl)
    pci_line = take_edition_line(decl / "vcci-pci.yml", 2019)
    papi_line = take_edition_line(decl / "undp-papi.yml", 2019)
    serve_originals(http_server, originals)  # the publisher-like server holds every file, 2019 too
    settings = make_settings(tmp_path / "data", source_mode="mirror", mirror=http_server.base, catalogue_dir=decl)

    pipeline.run_all(settings)
    assert _source_years(settings, "pci")[-1] == 2018 and _source_years(settings, "papi")[-1] == 2018
    assert not query(settings, "select 1 from marts.dim_publication where publication_id in "
                               "('vcci-pci-2019', 'undp-papi-2019-indicators')")
    short = marts_differences(settings.warehouse, built_warehouse.warehouse, ignore=("landed_sha256",))
    assert short["marts.fct_indicator_scores"][1] > 63 * 11  # the comparison sees a missing year

    _add_line(decl / "vcci-pci.yml", pci_line)  # one line: PCI 2019
    pipeline.run_all(settings)
    assert _source_years(settings, "pci") == list(catalogue.family("pci").years)
    assert _source_years(settings, "papi")[-1] == 2018

    _add_line(decl / "undp-papi.yml", papi_line)  # one line: PAPI 2019 (the panel's 2019 column and its own file)
    pipeline.run_all(settings)
    assert _source_years(settings, "papi") == list(catalogue.family("papi").years)

    # the same marts as the warehouse of the full declarations (EXCEPT ALL both ways, every table);
    # only the landed file's hash differs: the bundle lands tidy tables, the mirror the workbooks
    differences = marts_differences(settings.warehouse, built_warehouse.warehouse, ignore=("landed_sha256",))
    assert differences == {}
