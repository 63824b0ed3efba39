"""The nightly watch for new editions, against publisher-like pages on a local HTTP server (mirror
mode: each declared page's path on the mirror). The pages here are SYNTHETIC test pages; the files
they link are the publishers' real workbooks."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ingest import pipeline, watch
from ingest.config import CATALOGUE_DIR
from ingest.errors import LayoutError

from conftest import Route, file_sha256, make_settings, query, serve_originals, take_edition_line

# A page linking the family's data workbooks directly: a new year's file is taken in (`land: true`).
TEST_WATCH = """watch:
  - page: "https://pcivietnam.vn/synthetic-test/data-files"
    confirmed: false
    links: 'PCI (?P<year>20\\d\\d)\\.xlsx$'
    land: true
    note: "SYNTHETIC test page"
"""


def _declarations(tmp_path: Path, drop_pci_2019: bool = False) -> Path:
    decl = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, decl)
    path = decl / "vcci-pci.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("watch:\n", TEST_WATCH, 1), encoding="utf-8")
    if drop_pci_2019:
        take_edition_line(path, 2019)
    return decl


def _page(server, path: str, links: list[str]) -> Route:
    html = ("<!doctype html><title>SYNTHETIC test page</title><ul>"
            + "".join(f'<li><a href="{href}">{Path(href).name}</a></li>' for href in links) + "</ul>")
    route = server.routes.get(path)
    if route is None:
        route = server.add(path, Route())
    route.body = html.encode()
    return route


def _serve_publisher_pages(server, pci_years=(2017, 2018), moha=("2023",)):
    """The declared pages: UNDP's data page linking its files, the Ministry of Home Affairs' portal
    announcing PAR INDEX and SIPAS (article addresses SYNTHETIC, in the portal's naming), and the
    synthetic PCI files page."""
    _page(server, "/eng/documents-and-data-download",
          ["/Data/PAPI/PAPI%202011-2019.xlsx", "/docs/PAPI_2019_Report_EN.pdf", "/about"])
    _page(server, "/", [f"/tin-tuc/cong-bo-chi-so-cai-cach-hanh-chinh-par-index-va-sipas-nam-{y}.html" for y in moha]
          + ["/tin-tuc/hoi-nghi-truc-tuyen.html"])
    return _page(server, "/synthetic-test/data-files", [f"/Data/PCI/PCI%20{y}.xlsx" for y in pci_years])


def _settings(tmp_path, server, decl, name="data"):
    return make_settings(tmp_path / name, source_mode="mirror", mirror=server.base, catalogue_dir=decl)


def test_nothing_new_says_nothing_and_records_what_it_saw(http_server, tmp_path):
    decl = _declarations(tmp_path)
    _serve_publisher_pages(http_server, (2017, 2018, 2019))
    settings = _settings(tmp_path, http_server, decl)
    assert watch.check(settings) == []
    state = watch.read_state(settings)
    files_page = state["pages"][f"{http_server.base}/synthetic-test/data-files"]
    assert files_page["status"] == 200 and [ln.split("\t")[0] for ln in files_page["links"]] == ["2017", "2018", "2019"]
    # PAPI's data page: its 2019 report matched, a declared year; the years asked of the pages that
    # answer for a year (2025 on) are not out: 404, which is no problem there
    assert state["pages"][f"{http_server.base}/eng/documents-and-data-download"]["links"] == [
        f"2011\t{http_server.base}/Data/PAPI/PAPI%202011-2019.xlsx", f"2019\t{http_server.base}/docs/PAPI_2019_Report_EN.pdf"]
    asked = [u for u in state["pages"] if "year=" in u or "du-lieu" in u]
    assert asked and all(state["pages"][u]["status"] == 404 and "problem" not in state["pages"][u] for u in asked)
    seen = [json.loads(ln) for ln in (settings.data_dir / "watch" / "seen.jsonl").read_text().splitlines()]
    assert len(seen) == len(state["pages"]) and all(r["at"] == state["last_check"]["at"] for r in seen)
    # the Ministry's portal, watched for PAR INDEX and for SIPAS, is read once: 2023 is held by both
    portal = [r for r in seen if r["page"] == f"{http_server.base}/"]
    assert [(r["family"], r["confirmed"], r["matched"]) for r in portal] == [("moha-par-index, moha-sipas", False, 1)]
    # the second night asks conditionally and still says nothing
    route = http_server.routes["/synthetic-test/data-files"]
    route.etag = '"v1"'
    assert watch.check(settings) == [] and watch.check(settings) == []
    assert route.requests[-1].get("if-none-match") == '"v1"'
    assert watch.found_files(settings) == []


def test_a_page_that_moved_is_reported_once_not_every_night(http_server, tmp_path):
    decl = _declarations(tmp_path)
    _serve_publisher_pages(http_server, (2017, 2018, 2019))
    settings = _settings(tmp_path, http_server, decl)
    assert watch.check(settings) == []
    del http_server.routes["/eng/documents-and-data-download"]  # the page moved: 404
    first = watch.check(settings)
    assert [f.text for f in first] == [
        f"watch: {http_server.base}/eng/documents-and-data-download does not answer (HTTP 404); "
        "the page may have moved: update `watch` in undp-papi.yml"]
    assert watch.check(settings) == [] and watch.check(settings) == []  # not every night
    lines = watch.standing(settings)
    assert any(re.fullmatch(rf"  page not answering since \S+: {re.escape(http_server.base)}/eng/documents-and-data-"
                            r"download \(HTTP 404\)", ln) for ln in lines), lines
    _page(http_server, "/eng/documents-and-data-download", ["/docs/PAPI_2019_Report_EN.pdf"])  # back
    assert watch.check(settings) == []
    assert not any("not answering" in ln for ln in watch.standing(settings))
    # a server error is reported the same way, once
    http_server.routes["/eng/documents-and-data-download"].statuses = [500] * 50
    assert [f.kind for f in watch.check(settings)] == ["page"]
    assert watch.check(settings) == []


def test_a_new_year_not_declared_is_reported_as_available_never_a_failed_run(http_server, tmp_path):
    decl = _declarations(tmp_path)
    _serve_publisher_pages(http_server, (2017, 2018, 2019))
    _page(http_server, "/eng/documents-and-data-download", ["/docs/PAPI_2025_Report_EN.pdf"])
    settings = _settings(tmp_path, http_server, decl)
    findings = watch.check(settings)
    assert [f.text for f in findings] == [
        f"new edition available: PAPI 2025 — {http_server.base}/docs/PAPI_2025_Report_EN.pdf (not declared yet)"]
    assert watch.found_files(settings) == []  # a report, not a data file: not taken in
    assert any("new edition available: PAPI 2025" in ln for ln in watch.standing(settings))


@pytest.mark.slow
def test_a_new_year_is_taken_in_the_night_it_appears_and_a_bad_file_loads_nothing(
        built_warehouse, originals, http_server, tmp_path):
    decl = _declarations(tmp_path, drop_pci_2019=True)
    serve_originals(http_server, originals)
    files_page = _serve_publisher_pages(http_server, (2017, 2018))
    settings = _settings(tmp_path, http_server, decl)

    text = pipeline.run_all(settings)  # night 1: nothing new
    assert "Watch for new editions: nothing new" in text
    pci_years = "select distinct year from marts.fct_indicator_scores where indicator_code = 'pci' " \
                "and value_source_type = 'publisher_file' order by 1"
    assert query(settings, pci_years)[-1] == (2018,)
    served = file_sha256(settings.warehouse)

    # night 2: the page links a "2020" workbook in another layout (2016's file under the new name)
    _page(http_server, "/synthetic-test/data-files", [f"/Data/PCI/PCI%20{y}.xlsx" for y in (2017, 2018, 2020)])
    http_server.add("/Data/PCI/PCI%202020.xlsx", Route(body=(originals / "vcci-pci/PCI_2016.xlsx").read_bytes()))
    with pytest.raises(LayoutError) as caught:
        pipeline.run_all(settings)
    said = str(caught.value)
    assert "\n" not in said and said.startswith("vcci-pci-2020 (")
    assert file_sha256(settings.warehouse) == served  # nothing of it loads; the last good warehouse stays

    # night 3: the page now links the 2019 workbook: taken in, parsed by 2019's declared layout
    _page(http_server, "/synthetic-test/data-files", [f"/Data/PCI/PCI%20{y}.xlsx" for y in (2017, 2018, 2019)])
    text = pipeline.run_all(settings)
    assert (f"Watch: new edition taken in: PCI 2019 — {http_server.base}/Data/PCI/PCI%202019.xlsx (not declared yet: "
            "add its line to catalogue/vcci-pci.yml)") in text
    assert query(settings, pci_years)[-1] == (2019,)
    scores = ("select unit_key, component_code, value, value_publication_id from marts.fct_indicator_scores where indicator_code = 'pci' "
              "and year = 2019 and value_source_type = 'publisher_file' order by 1, 2")
    got = query(settings, scores)
    assert len(got) == 63 * 11 and got == query(built_warehouse, scores)  # the same figures as the declared file's


def test_par_index_and_sipas_are_watched_on_the_ministrys_portal_read_once_a_night(http_server, tmp_path):
    """Curated-only families (no data file to fetch) still declare their editions and a watch: a
    new year's announcement on the portal is reported for each index it names, never taken in."""
    decl = _declarations(tmp_path)
    _serve_publisher_pages(http_server, (2017, 2018, 2019), moha=("2023", "2024"))
    portal = http_server.routes["/"]
    settings = _settings(tmp_path, http_server, decl)
    link = f"{http_server.base}/tin-tuc/cong-bo-chi-so-cai-cach-hanh-chinh-par-index-va-sipas-nam-2024.html"
    assert [f.text for f in watch.check(settings)] == [
        f"new edition available: PAR INDEX 2024 — {link} (not declared yet)",
        f"new edition available: SIPAS 2024 — {link} (not declared yet)"]
    assert len(portal.requests) == 1 and watch.found_files(settings) == []
    # the next night the portal answers 304 to the conditional read: each index still finds its own link
    portal.etag = '"p1"'
    for _night in (2, 3):  # a 200 that gives the validator, then a 304
        assert [f.text.split(" — ")[0] for f in watch.check(settings)] == [
            "new edition available: PAR INDEX 2024", "new edition available: SIPAS 2024"]
    assert portal.requests[-1].get("if-none-match") == '"p1"' and len(portal.requests) == 3
    # a page naming only SIPAS is SIPAS's news alone; once 2024 is declared (one line), nothing is said
    _page(http_server, "/", ["/tin-tuc/chi-so-hai-long-ve-su-phuc-vu-hanh-chinh-nam-2025.html"])
    portal.etag = '"p2"'
    assert [f.text.split(" — ")[0] for f in watch.check(settings)] == ["new edition available: SIPAS 2025"]
    sipas = decl / "moha-sipas.yml"
    sipas.write_text(sipas.read_text(encoding="utf-8") + "  - {year: 2025}\n", encoding="utf-8")
    portal.etag = '"p3"'
    assert watch.check(settings) == []
