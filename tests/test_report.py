"""The static report: built from the published warehouse, checked in a real headless Chromium
(Debian's chromium, driven by Playwright without any browser download)."""
from __future__ import annotations

import functools
import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.config import REPO_ROOT
from ingest.report import build_site

from conftest import query

pytestmark = pytest.mark.xdist_group("report_site")  # one worker builds the module's fixtures once

ARTIFACTS = Path(os.environ.get("GOVWH_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def site(built_warehouse, tmp_path_factory):
    # its own folder: the built warehouse is shared by every test (and xdist worker) and only read
    result = build_site(built_warehouse, out=tmp_path_factory.mktemp("report") / "site")
    return Path(result["folder"]), result


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("GOVWH_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium not found and GOVWH_REQUIRE_CHROMIUM=1")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return path


@pytest.fixture(scope="module")
def served(site):
    folder, _ = site

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_site_has_every_page_and_no_cdn(site):
    folder, result = site
    assert result["pages"] >= 150
    for name in ("index.html", "coverage.html", "conflicts.html", "provinces.html", "ministries.html",
                 "ranking/pci-province-2016.html", "ranking/par_index-ministry-2023.html", "bump/pci-province.html",
                 "province/22.html", "province/28.html", "ministry/MOJ.html", "assets/plotly.min.js",
                 "assets/provinces.js", "changes.html", "today.html"):
        assert (folder / name).is_file(), name
    for page in folder.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', html), page  # nothing from a CDN
        assert "Data last published 20" in html, page


def test_internal_links_resolve(site):
    """Every page's links as files (the Chromium test follows the links of each page type over HTTP)."""
    folder, _ = site
    broken = []
    for page in folder.rglob("*.html"):
        for href in re.findall(r'(?:href|src)="([^"#]+)"', page.read_text(encoding="utf-8")):
            if href.startswith(("http://", "https://", "data:")):
                continue
            if page.name == "downloads.html" and "exports/" in href:
                continue  # the exports folder beside the site: this one has none (the downloads test opens each)
            if not (page.parent / href).resolve().is_file():
                broken.append((str(page.relative_to(folder)), href))
    assert broken == []


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(url, wait_until="networkidle")
    page.wait_for_load_state("load")  # networkidle can come while Plotly still draws, before the last scripts ran
    return page, problems


PAGES = ["index.html", "ranking/pci-province-2016.html", "ranking/par_index-ministry-2023.html",
         "bump/par_index-province.html", "province/22.html", "province/28.html", "ministry/MOJ.html",
         "coverage.html", "conflicts.html", "changes.html", "ranking/papi-province-2019.html",
         "ranking/pci-province-2024.html", "today.html", "indicator/pci_ec_01.html",
         "ranking/pci-province-2016-entry_costs.html", "ranking/papi-province-2019-d2_4_access_information.html",
         "ranking/par_index-ministry-2023-appraisal_score.html", "indicator/pci_ec_01-2018.html"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_in_chromium_without_errors_and_charts_draw_marks(browser, served, path):
    page, problems = _open(browser, f"{served}/{path}")
    try:
        assert problems == []
        # every link, stylesheet, script and image of this site, as Chromium resolved it, answers 200
        checked, broken = page.evaluate("""async () => {
            const own = [...new Set(Array.from(document.querySelectorAll('a[href], link[href], script[src], img[src]'))
                .map(e => (e.href || e.src).split('#')[0]).filter(u => u.startsWith(location.origin + '/')))];
            const status = await Promise.all(own.map(u => fetch(u, {method: 'HEAD'}).then(r => r.status, () => 0)));
            return [own.length, own.filter((u, i) => status[i] !== 200)];
        }""")
        assert checked >= 3 and broken == [], broken
        charts = page.locator(".chart").count()
        if charts:
            marks = page.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(c =>
                c.querySelectorAll('g.trace path, g.trace .point').length)""")
            assert all(m > 0 for m in marks), marks
            assert page.locator("table").count() >= 1  # the chart's data beneath it
    finally:
        page.close()


def test_vietnamese_text_and_figures_render(browser, served):
    page, problems = _open(browser, f"{served}/ranking/pci-province-2016.html")
    try:
        first = page.locator("#scores-table tbody tr").first.inner_text()
        assert "1 of 63" in first and "Đà Nẵng" in first and "70.00" in first and "Rất tốt" in first
        assert page.locator("#scores-table a[rel~=external]").first.get_attribute("href").endswith("PCI_2016.xlsx")
        assert problems == []
    finally:
        page.close()


def test_bump_chart_adds_a_selected_province(browser, served):
    page, problems = _open(browser, f"{served}/bump/pci-province.html")
    try:
        # Plotly draws by script after the page loads: on a busy machine, after "networkidle"
        page.wait_for_function("(document.getElementById('bump').data || []).length > 0", timeout=30_000)
        before = page.evaluate("document.getElementById('bump').data.length")
        page.select_option("select[data-chart=bump]", label="Hà Tây")
        page.wait_for_function(f"document.getElementById('bump').data.length > {before}")
        assert problems == []
    finally:
        page.close()


def _map_classes(page) -> dict[str, int]:
    # the map is drawn by script after the page loads: on a busy machine, after "networkidle"
    page.wait_for_function("document.querySelectorAll('.province-map path').length > 0", timeout=30_000)
    return page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('.province-map path'))
        .map(p => [p.dataset.unit, Number(p.dataset.class)]))""")


def test_the_pci_2016_map_colours_63_provinces_with_da_nang_in_the_best_class(browser, served):
    page, problems = _open(browser, f"{served}/ranking/pci-province-2016.html")
    try:
        classes = _map_classes(page)
        assert len(classes) == 63 and all(1 <= c <= 5 for c in classes.values())  # none grey
        assert classes["48"] == 1 and classes["22"] == 1  # Đà Nẵng (1st), Quảng Ninh (2nd): the best class
        assert sum(1 for c in classes.values() if c == 1) == 13  # ranks 1-13, as the legend says
        legend = page.locator("figure.map .legend").inner_text()
        assert "Colour: rank" in legend and "rank 1-13" in legend and "not in this table" in legend
        assert "geoBoundaries" in page.locator("figure.map .attribution").inner_text()
        assert page.locator('.province-map path[data-unit="48"] title').text_content() == \
            "Đà Nẵng: rank 1, score 70.00"
        assert problems == []
    finally:
        page.close()


def test_a_partial_table_greys_the_units_it_does_not_print(browser, served, built_warehouse):
    printed = {k for (k,) in query(built_warehouse, """select unit_key from marts.fct_rankings
        where indicator_code = 'pci' and year = 2024 and component_code = 'overall' and level = 'province'
          and score is not null""")}
    page, problems = _open(browser, f"{served}/ranking/pci-province-2024.html")
    try:
        classes = _map_classes(page)
        assert 0 < len(printed) < 63
        assert {k for k, c in classes.items() if c > 0} == printed
        assert sum(1 for c in classes.values() if c == 0) == 63 - len(printed)
        assert page.locator('.province-map path[data-class="0"] title').first.text_content() == "not in this table"
        assert problems == []
    finally:
        page.close()


def test_province_pages_have_a_locator_map_and_ha_tay_a_note(browser, served):
    page, problems = _open(browser, f"{served}/province/22.html")
    try:
        classes = _map_classes(page)
        assert [k for k, c in classes.items() if c == 1] == ["22"] and len(classes) == 63
        # the locator sits at the top of the page, beside the title, and no chart is drawn over it
        box, chart = page.locator(".locator").bounding_box(), page.locator("#history").bounding_box()
        assert box["y"] < 300 and box["y"] + box["height"] <= chart["y"] + 1, (box, chart)
        assert problems == []
    finally:
        page.close()
    page, problems = _open(browser, f"{served}/ranking/pci-province-2007.html")
    try:
        assert "Hà Tây (a province until 2008-08-01) is not drawn separately" in page.content()
        assert problems == []
    finally:
        page.close()


def test_screenshots_of_the_overview_and_a_province(browser, served):
    """Saved to test-artifacts/ (GOVWH_TEST_ARTIFACTS) for a person to look at: each page type once."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path, name in (("index.html", "overview.png"), ("province/22.html", "province-quang-ninh.png"),
                       ("ranking/pci-province-2016.html", "ranking-pci-2016.png"),
                       ("changes.html", "what-changed.png"),
                       ("ranking/pci-province-2016-entry_costs.html", "ranking-pci-2016-entry-costs.png"),
                       ("indicator/pci_ec_01.html", "indicator-pci-ec-01.png")):
        page, problems = _open(browser, f"{served}/{path}")
        page.screenshot(path=str(ARTIFACTS / name), full_page=False)
        page.close()
        assert problems == [] and (ARTIFACTS / name).stat().st_size > 10_000
    page, problems = _open(browser, f"{served}/ranking/pci-province-2016.html")
    page.locator("figure.map").first.screenshot(path=str(ARTIFACTS / "map-pci-2016.png"))
    page.close()
    assert problems == [] and (ARTIFACTS / "map-pci-2016.png").stat().st_size > 10_000
    page, problems = _open(browser, f"{served}/ranking/papi-province-2019.html")  # dots with 95% whiskers
    page.locator(".chart").first.screenshot(path=str(ARTIFACTS / "chart-papi-2019-whiskers.png"))
    page.close()
    assert problems == [] and (ARTIFACTS / "chart-papi-2019-whiskers.png").stat().st_size > 10_000


# ------------------------------------------------------------------ hostile text stays text
HOSTILE_URL = "javascript:document.title='pwned'"
HOSTILE_TITLE = "<img src=x onerror=\"document.title='pwned'\">SYNTHETIC"


def test_hostile_text_in_the_warehouse_renders_inert_in_chromium(browser, warehouse_copy, tmp_path):
    """Defence in depth: intake refuses such values, but were one to reach the marts (SYNTHETIC
    tampering of a copy), the report still shows it as text: no javascript: link, no markup."""
    import duckdb

    con = duckdb.connect(str(warehouse_copy.warehouse))
    for table in ("fct_indicator_scores", "fct_rankings"):  # the ranking page reads fct_rankings' own URL
        con.execute(f"update marts.{table} set value_source_url = ? where indicator_code = 'pci' "
                    "and year = 2016 and component_code = 'overall' and unit_name = 'Đà Nẵng'", [HOSTILE_URL])
    con.execute("update marts.dim_publication set title = ?, citation_url = ? where publication_id = 'vcci-pci-2016'",
                [HOSTILE_TITLE, HOSTILE_URL])
    con.close()
    folder = Path(build_site(warehouse_copy, out=tmp_path / "site")["folder"])
    html = (folder / "ranking" / "pci-province-2016.html").read_text(encoding="utf-8")
    assert 'href="javascript:' not in html and "<img src=x" not in (folder / "coverage.html").read_text()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for path in ("ranking/pci-province-2016.html", "coverage.html"):
            page, problems = _open(browser, f"{base}/{path}")
            try:
                assert problems == []
                assert page.evaluate("document.querySelectorAll('a[href^=\"javascript\" i]').length") == 0
                assert page.evaluate("document.querySelectorAll('img').length") == 0
                assert page.title() != "pwned"
                if path.startswith("ranking"):
                    first = page.locator("#scores-table tbody tr").first
                    assert "Đà Nẵng" in first.inner_text()
                    assert first.locator(".inert-url").inner_text().startswith("publisher_file (unlinked: javascript:")
                else:
                    assert HOSTILE_TITLE in page.locator("body").inner_text()  # shown, literally
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / "hostile-text-inert.png"))
            finally:
                page.close()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_province_pages_show_the_indicators_beneath_the_sub_indices(site, built_warehouse):
    folder, _ = site
    html = (folder / "province" / "22.html").read_text(encoding="utf-8")
    summaries = re.findall(r"<summary>([^<]*)</summary>", html)
    assert len(summaries) == 18  # 10 PCI sub-indices (2019) and 8 PAPI dimensions (2019)
    assert "PCI 2019: Entry costs (10 indicators)" in summaries
    assert "PAPI 2019: E-governance (from 2018) (9 indicators)" in summaries
    (days,) = query(built_warehouse, """select value from marts.fct_subindicator_values
        where unit_key = '22' and year = 2019 and subindicator_code = 'pci_ec_01'""")[0]
    row = re.search(r"<tr><td><a href=\"../indicator/pci_ec_01.html\">Length of business registration in days \(Median\)"
                    r"</a></td><td>days</td>"
                    r"<td class=\"num\">([^<]*)</td>", html)
    assert row and row.group(1) == f"{days:g}"
    # Hà Tây has no survey indicators: the page says what is missing
    assert "No survey indicators below the sub-indices" in (folder / "province" / "28.html").read_text(encoding="utf-8")


def test_todays_34_provinces_map_is_labelled_not_an_official_ranking(browser, served):
    page, problems = _open(browser, f"{served}/today.html")
    try:
        classes = page.evaluate("""() => Array.from(document.querySelectorAll('#today-pci-map path'))
            .map(p => Number(p.dataset.class))""")
        assert len(classes) == 34 and min(classes) >= 1  # every one of today's provinces has a regrouped score
        text = page.locator("main").inner_text()
        assert text.count("not an official ranking") >= 3 and "PCI 2020, regrouped" in text
        assert problems == []
    finally:
        page.close()


def _page_text(folder: Path, path: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", (folder / path).read_text(encoding="utf-8")).split())


def test_ranking_pages_say_how_many_were_ranked_and_where_each_rank_comes_from(site, built_warehouse):
    """Sentences stay apart; "N of M" counts the units held against the units ranked (less those printed
    without a score), and says so where no source records M; a rank read from a news page's order
    of listing links that page, beside the publisher's file its score comes from."""
    folder, _ = site
    assert not re.search(r"\d\.(Rank changes|Average computed|A new series)", _page_text(folder, "ranking/pci-province-2016.html"))
    papi = _page_text(folder, "ranking/papi-province-2018.html")
    assert "61 of 61 units ranked that year are in the warehouse (2 more printed without a score, so unranked)" in papi
    assert "Rank changes compare" not in papi and "A new series starts in 2018" in papi
    # each component's page says what its publisher changed (seeds/series_breaks.csv, via mart_year_summaries)
    assert "A new series starts in 2018 : From 2018 the PAPI total sums eight dimensions" in papi
    transparency = _page_text(folder, "ranking/papi-province-2018-d2_transparency.html")
    assert "A new series starts in 2018 : From 2018 Transparency adds a fourth sub-dimension, Access to information" \
        in transparency and "Rank changes compare" not in transparency
    (ranked,) = query(built_warehouse, """select count(rank) from marts.fct_rankings where indicator_code = 'par_index'
        and level = 'province' and year = 2020 and component_code = 'overall'""")[0]
    assert ranked > 0 and f"{ranked} of 63 units ranked" in _page_text(folder, "ranking/par_index-province-2020.html")
    assert "10 of ? units ranked that year are in the warehouse (how many were ranked that year is recorded in no " \
           "source the warehouse holds)" in _page_text(folder, "ranking/sipas-province-2015.html")
    quang_ninh = _page_text(folder, "province/22.html")
    assert "SIPAS 2015 85.18 3 of ? · secondary SIPAS 2017 92.88 5 of 63 · secondary" in quang_ninh  # no "▼ 2"
    listed = query(built_warehouse, """select rank_source_url, value_source_type from marts.fct_rankings
        where indicator_code = 'papi' and year = 2019 and component_code = 'overall' and rank_source = 'order_of_listing'""")
    html = (folder / "ranking" / "papi-province-2019.html").read_text(encoding="utf-8")
    assert len(listed) == 3 and {t for _, t in listed} == {"publisher_file"}
    for url, _ in listed:
        assert f'rank: <a href="{url}" rel="external noopener noreferrer">news</a> <span class="note">(order of listing)' in html


def test_a_rank_change_across_tables_of_different_sizes_says_both_sizes(site, built_warehouse):
    """PCI 2005 ranked 42 provinces, 2006 ranked 64: Quảng Ninh's 7th to 25th is "▼ 18 (of 42 → 64)"
    on the 2006 ranking page and on its own page; a change between tables of one size says no sizes."""
    folder, _ = site
    ((change, before, after),) = query(built_warehouse, """select rank_change, previous_units_ranked, units_ranked
        from marts.fct_rankings where indicator_code = 'pci' and level = 'province' and year = 2006
        and component_code = 'overall' and unit_key = '22'""")
    assert (change, before, after) == (-18, 42, 64)
    ranking = _page_text(folder, "ranking/pci-province-2006.html")
    assert re.search(r"Quảng Ninh [^▼▲]*▼ 18 \(of 42 → 64\)", ranking)
    assert ranking.count("(of 42 → 64)") == query(built_warehouse, """select count(*) from marts.fct_rankings
        where indicator_code = 'pci' and level = 'province' and year = 2006 and component_code = 'overall'
        and rank_change is not null""")[0][0] == 42
    quang_ninh = _page_text(folder, "province/22.html")
    assert "PCI 2006 " in quang_ninh and re.search(r"PCI 2006 [\d.]+ 25 of 64 [^▼▲·]*▼ 18 \(of 42 → 64\)", quang_ninh)
    assert re.search(r"PCI 2007 [\d.]+ 22 of 64 [^▼▲·]*▲ 3 (?!\(of)", quang_ninh)  # 64 → 64: no sizes


def test_the_conflicts_page_has_one_row_per_fact_every_source_and_the_preferred_figure(site, built_warehouse):
    folder, _ = site
    html = (folder / "conflicts.html").read_text(encoding="utf-8")
    rows = [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in re.findall(r"<tr>.*?</tr>", html, re.S)][1:]
    facts = query(built_warehouse, """select count(distinct (indicator_code, level, unit_key, component_code, year, conflict_kind)),
        count(*) from marts.mart_conflicts""")[0]
    assert len(rows) == facts[0] < facts[1]  # pairs of one fact (three sources) make one row
    assert all(re.search(r" \d+(\.\d+)? [a-z_]+$", r) for r in rows), rows  # a preferred figure and its source, always
    assert not re.search(r"\d\.\d{5,}", " ".join(rows))  # no float noise
    papi = next(r for r in rows if r.startswith("PAPI overall 2019 Quảng Ninh"))
    assert papi == ("PAPI overall 2019 Quảng Ninh value 46.6628 ( publisher_file ) preferred ; 44.66 ( news ); "
                    "46.66 ( news ) 46.6628 publisher_file")


def test_rank_history_charts_tick_whole_ranks_only(site):
    """A ministry's rank history (ranks 1-4) had ticks at rank 1.5 and 2.5; a province's (1-63) ticks at 1 and
    every 5 (never at rank 0)."""
    import json

    folder, _ = site

    def axis(path):
        html = (folder / path).read_text(encoding="utf-8")
        spec = re.search(r'<script type="application/json" id="history-spec">(.*?)</script>', html, re.S).group(1)
        return json.loads(spec)["layout"]["yaxis"]

    ministry, province = axis("ministry/MOF.html")["tickvals"], axis("province/22.html")["tickvals"]
    assert ministry == list(range(1, ministry[-1] + 1)) and ministry[-1] <= 12
    assert province[:4] == [1, 5, 10, 15] and 0 not in province


def test_today_names_the_provinces_of_the_year_and_its_legend_classes_do_not_overlap(site):
    folder, _ = site
    text = _page_text(folder, "today.html")
    assert "2 Đà Nẵng 67.92 65.72–70.12 Đà Nẵng , Quảng Nam 3" in text  # not "48,49"
    assert not re.search(r"\d\d,\d\d", text)
    html = (folder / "today.html").read_text(encoding="utf-8")
    assert '<a href="province/48.html">Đà Nẵng</a>, <a href="province/49.html">Quảng Nam</a>' in html
    # PCI 2020's five classes, best first: each holds its low bound; its high bound is the better class's low one
    assert ("score 66.93-75.09 score 64.27 to under 66.93 score 63.15 to under 64.27 score 62.43 to under 63.15 "
            "score 61.22 to under 62.43 not in this table") in text


def test_papi_2019_says_which_total_is_ranked_and_shows_the_other(site):
    folder, _ = site
    text = _page_text(folder, "ranking/papi-province-2019.html")
    assert "Ranked on: PAPI (unweighted total of dimensions" in text and "Also printed: PAPI weighted total (2019 file)" in text
    # the weighted total puts Quang Ninh 2nd, the unweighted (ranked) one 3rd
    assert re.search(r"3 of 63 1–18 Quảng Ninh 46\.66 45\.43–47\.90 52\.30 \(2\)", text)


def test_whiskers_are_visible_on_papi_2019_on_an_axis_fitted_to_the_intervals(browser, served):
    page, problems = _open(browser, f"{served}/ranking/papi-province-2019.html")
    try:
        widths = page.evaluate("""() => Array.from(document.querySelectorAll('#scores g.errorbar path'))
            .map(p => p.getBBox().width)""")
        ticks = page.evaluate("""() => Array.from(document.querySelectorAll('#scores g.xtick text'))
            .map(t => parseFloat(t.textContent))""")
        assert len(widths) == 63 and sorted(widths)[31] > 20, widths  # the median whisker spans > 20 px
        assert min(ticks) >= 30, ticks  # PAPI 2019 totals are 39-47: the axis starts near them, not at 0
        assert problems == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#scores").screenshot(path=str(ARTIFACTS / "papi-2019-whiskers.png"))
    finally:
        page.close()


def _contrast_with_white(rgb: str) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def test_the_bump_table_scrolls_inside_the_page_and_every_mapped_unit_is_outlined(browser, served):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    try:
        page.goto(f"{served}/bump/pci-province.html", wait_until="load")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        wrapper = page.evaluate("""() => { const w = document.querySelector('.table-scroll');
            return [w.scrollWidth > w.clientWidth, getComputedStyle(w).overflowX]; }""")
        assert overflow <= 0 and wrapper == [True, "auto"]  # the wide table scrolls in its box, not the page
        page.goto(f"{served}/ranking/pci-province-2016.html", wait_until="load")
        strokes = page.evaluate("""() => Array.from(document.querySelectorAll('#ranking-map path'))
            .map(p => getComputedStyle(p).stroke)""")
        assert len(strokes) >= 63 and all(_ for _ in strokes)
        assert min(_contrast_with_white(s) for s in set(strokes)) >= 3  # the lightest class is outlined on white
    finally:
        page.close()


def test_the_search_box_finds_a_province_by_any_name_the_resolver_accepts(browser, served, site):
    """Hue, TP HCM and Ha Tay open their pages from any page; every name and alias in the seeds finds,
    in the page's JavaScript, exactly the provinces (with a page) that ingest.names resolves it to."""
    import csv

    from ingest.config import SEEDS_DIR
    from ingest.names import provinces

    folder, _ = site
    pages = {p.stem for p in (folder / "province").glob("*.html")}
    registry = provinces()
    with open(SEEDS_DIR / "provinces.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = [r[c] for r in rows for c in ("name_vi", "official_name", "name_ascii", "name_en")]
    paged = [r[c] for r in rows if r["province_key"] in pages for c in ("name_vi", "official_name", "name_ascii")]
    with open(SEEDS_DIR / "province_aliases.csv", encoding="utf-8") as f:
        names += [r["alias"] for r in csv.DictReader(f)]
    names += ["HUẾ", "hue", "Thành phố Hồ Chí Minh", "tp. hcm", "Hà Tây"]  # case and NFD-composed variants
    expected = {n: sorted(f"province/{k}.html" for k in registry.folded_names().get(registry.key_of(n), ()) if k in pages)
                for n in names}
    page, problems = _open(browser, f"{served}/ranking/pci-province-2016.html")
    try:
        page.wait_for_function("typeof window.govwhFind === 'function'")  # the page's last script has run
        got = page.evaluate("names => Object.fromEntries(names.map(n => [n, window.govwhFind(n).map(u => u.page).sort()]))",
                            names)
        assert got == expected
        assert len(paged) >= 3 * 63 and all(got[n] for n in paged)  # every name of a province with a page finds it
        for typed, target in (("Hue", "province/46.html"), ("TP HCM", "province/79.html"), ("Ha Tay", "province/28.html")):
            page.goto(f"{served}/ranking/pci-province-2016.html", wait_until="load")
            page.wait_for_function("typeof window.govwhFind === 'function'")
            page.fill("form.search input", typed)
            page.press("form.search input", "Enter")
            page.wait_for_url(f"{served}/{target}")
        page.fill("form.search input", "Atlantis")
        page.press("form.search input", "Enter")
        assert "No province called “Atlantis”" in page.locator("form.search .search-result").inner_text()
        assert problems == []
    finally:
        page.close()


def test_every_ranking_page_links_the_csv_and_xlsx_of_exactly_its_table(site, built_warehouse):
    import csv

    from openpyxl import load_workbook

    folder, _ = site
    pages = sorted((folder / "ranking").glob("*.html"))
    assert len(pages) > 50
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert f'<a href="{page.stem}.csv" download>CSV</a>' in html and f'<a href="{page.stem}.xlsx" download>XLSX</a>' in html
        assert (page.with_suffix(".csv")).is_file() and (page.with_suffix(".xlsx")).is_file()
    with open(folder / "ranking" / "papi-province-2019.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = query(built_warehouse, """select unit_key, rank, rank_source, rank_source_url from marts.fct_rankings
        where indicator_code = 'papi' and level = 'province' and year = 2019 and component_code = 'overall'""")
    assert sorted((r["unit_key"], int(r["rank"]), r["rank_source"], r["rank_source_url"] or None) for r in rows) == \
        sorted(expected)
    sheet = load_workbook(folder / "ranking" / "pci-province-2016.xlsx", read_only=True)["table"]
    cells = list(sheet.iter_rows(values_only=True))
    assert len(cells) == 1 + 63 and ("pci", "province", 2016, "overall", 1, "1 of 63") == cells[1][:6]


def test_every_sub_index_and_dimension_has_its_ranking_page_linked_from_the_index_and_provinces(site, built_warehouse):
    folder, _ = site
    html = (folder / "ranking" / "pci-province-2016.html").read_text(encoding="utf-8")
    linked = re.findall(r'<a href="(pci-province-2016-[a-z_]+\.html)">', html)
    expected = query(built_warehouse, """select component_code from marts.dim_component where indicator_code = 'pci'
        and kind = 'sub_index' and component_code in (select component_code from marts.fct_rankings
        where indicator_code = 'pci' and year = 2016 and rank is not null) order by sort_order""")
    assert linked == [f"pci-province-2016-{c}.html" for (c,) in expected] and len(linked) == 10
    entry = _page_text(folder, "ranking/pci-province-2016-entry_costs.html")
    assert "Provincial Competitiveness Index: Entry costs 2016" in entry and "63 of 63 units ranked" in entry
    assert '<a href="pci-province-2016.html">' in (folder / "ranking" / "pci-province-2016-entry_costs.html").read_text()
    papi = re.findall(r'<a href="(papi-province-2019-d\d_[a-z_]+\.html)">', (folder / "ranking" / "papi-province-2019.html").read_text())
    assert len(papi) == 8  # PAPI 2019's eight dimensions
    # a province page links each of its latest components to that component's ranking page
    quang_ninh = (folder / "province" / "22.html").read_text(encoding="utf-8")
    pages = re.findall(r'href="\.\./(ranking/pci-province-\d{4}-[a-z_]+\.html)"', quang_ninh)
    assert len(pages) >= 8 and all((folder / p).is_file() for p in pages)
    # and its PAPI dimensions to theirs, in a table of their own
    dimensions = re.findall(r'href="\.\./(ranking/papi-province-\d{4}-d\d_[a-z_]+\.html)"', quang_ninh)
    held = query(built_warehouse, """select u.year, u.component_code from marts.mart_unit_latest u
        join marts.dim_component k using (indicator_code, component_code) where u.indicator_code = 'papi'
        and u.level = 'province' and u.unit_key = '22' and k.kind = 'dimension' and u.score is not null
        order by u.component_sort_order""")
    assert dimensions == [f"ranking/papi-province-{y}-{c}.html" for y, c in held if (folder / "ranking" /
                          f"papi-province-{y}-{c}.html").is_file()] and len(dimensions) >= 7
    titles = re.findall(r"Latest components \((PCI|PAPI) (\d{4})\)", _page_text(folder, "province/22.html"))
    assert [t for t, _y in titles] == ["PCI", "PAPI"] and dimensions[0].split("-")[2] == titles[1][1]


def test_every_part_of_every_index_the_warehouse_holds_a_table_of_has_its_page(site, built_warehouse):
    """Each table mart_coverage holds of a part of an index (PAPI's sub-dimensions, SIPAS's components,
    PAR INDEX's component areas, ...) has its ranking page, but a variant total (printed beside the
    ranked one); a dimension's page links its sub-dimensions, and each sub-dimension's page links back."""
    from ingest.report import INDICATOR_ORDER

    folder, _ = site
    held = query(built_warehouse, """select c.indicator_code, c.level, c.year, c.component_code, k.kind
        from marts.mart_coverage c join marts.dim_component k using (indicator_code, component_code)
        where c.level in ('province', 'ministry') and c.component_code <> 'overall' and k.kind <> 'variant'
          and greatest(c.units_with_figure, c.units_with_rank) > 0 and list_contains($shown, c.indicator_code)""",
                 {"shown": list(INDICATOR_ORDER)})
    kinds = {kind for *_, kind in held}
    assert {"sub_index", "dimension", "sub_dimension"} <= kinds and len(held) >= 500
    missing = [f"ranking/{i}-{lv}-{y}-{c}.html" for i, lv, y, c, _ in held
               if not (folder / "ranking" / f"{i}-{lv}-{y}-{c}.html").is_file()]
    assert missing == []
    variants = query(built_warehouse, """select indicator_code, component_code from marts.dim_component
        where kind = 'variant'""")
    assert variants and not [p for i, c in variants for p in (folder / "ranking").glob(f"{i}-*-{c}.html")]
    subs = query(built_warehouse, """select component_code from marts.dim_component where indicator_code = 'papi'
        and parent_code = 'd2_transparency' and component_code in (select component_code from marts.mart_coverage
        where indicator_code = 'papi' and level = 'province' and year = 2019 and units_with_figure > 0)
        order by sort_order""")
    assert len(subs) == 4  # from 2018 Transparency has four sub-dimensions (Access to information added)
    dimension = (folder / "ranking" / "papi-province-2019-d2_transparency.html").read_text(encoding="utf-8")
    assert re.findall(r'<a href="(papi-province-2019-d2_[0-9a-z_]+\.html)">', dimension) == [
        f"papi-province-2019-{c}.html" for (c,) in subs]
    sub = _page_text(folder, f"ranking/papi-province-2019-{subs[-1][0]}.html")
    assert "A part of Transparency , within the index: the headline table of 2019" in sub
    assert "units ranked that year are in the warehouse" in sub
    headline = (folder / "ranking" / "papi-province-2019.html").read_text(encoding="utf-8")
    assert f"papi-province-2019-{subs[0][0]}.html" not in headline  # the headline lists dimensions only


def test_a_pci_sub_index_page_maps_63_provinces(browser, served):
    page, problems = _open(browser, f"{served}/ranking/pci-province-2016-entry_costs.html")
    try:
        classes = _map_classes(page)
        assert len(classes) == 63 and sorted(set(classes.values())) == [1, 2, 3, 4, 5]
        assert page.locator("#scores-table tbody tr").count() == 63
        assert problems == []
    finally:
        page.close()


def test_every_survey_indicator_has_a_page_with_its_spread_and_the_publishers_min_median_max(site, built_warehouse):
    import csv

    folder, _ = site
    (items,) = query(built_warehouse, "select count(*) from marts.dim_subindicator")[0]
    (tables,) = query(built_warehouse, """select count(distinct (subindicator_code, year))
        from marts.fct_subindicator_values where level = 'province'""")[0]
    pages = list((folder / "indicator").glob("*.html"))
    latest = [p for p in pages if not re.search(r"-\d{4}$", p.stem)]
    assert len(latest) == items == 407 and len(pages) == tables == 628  # a page per indicator and year asked
    text = _page_text(folder, "indicator/pci_ec_01.html")
    assert "PCI 2019: Length of business registration in days (Median)" in text and "Unit: days" in text
    assert "A survey indicator below Entry costs (pci, code pci_ec_01)." in " ".join(
        re.sub(r"<[^>]+>", "", (folder / "indicator" / "pci_ec_01.html").read_text(encoding="utf-8")).split())
    assert "2017 63 3 / 6 / 7 3 / 6 / 7 yes 2018 63 1.5 / 5 / 7 1.5 / 5 / 7 yes 2019 63 3 / 5 / 7 3 / 5 / 7 yes" in text
    html = (folder / "indicator" / "pci_ec_01.html").read_text(encoding="utf-8")
    assert re.findall(r'<a href="(pci_ec_01-\d{4}\.html)">', html) == ["pci_ec_01-2017.html", "pci_ec_01-2018.html"]
    earlier = _page_text(folder, "indicator/pci_ec_01-2018.html")  # 2018's provinces in 2018's order
    first = query(built_warehouse, """select unit_name from marts.fct_subindicator_values where subindicator_code =
        'pci_ec_01' and year = 2018 and level = 'province' order by value_place, unit_name limit 1""")[0][0]
    assert "PCI 2018: Length of business registration in days (Median)" in earlier
    assert re.search(rf"Place Province Value \(days\) 1 {first} ", earlier)
    assert "not an official ranking" in text and "days 5.00 to under 7.00" in text  # no empty class from ties
    with open(folder / "indicator" / "pci_ec_01.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 63 and {r["year"] for r in rows} == {"2019"} and rows[0]["place"] == "1"
    # every indicator page links the CSV and the XLSX of exactly its table, both beside it
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert f'<a href="{page.stem}.csv" download>CSV</a>' in html and f'<a href="{page.stem}.xlsx" download>XLSX</a>' in html
        assert page.with_suffix(".csv").is_file() and page.with_suffix(".xlsx").is_file()
    from openpyxl import load_workbook

    cells = list(load_workbook(folder / "indicator" / "pci_ec_01.xlsx", read_only=True)["table"].iter_rows(values_only=True))
    assert cells[0] == tuple(rows[0])  # the CSV's header
    value = cells[0].index("value")

    def same(row):  # a cell as the CSV writes it; the value as a number (the XLSX reads 7.0 back as 7)
        return tuple(float(v) if j == value and v not in (None, "") else "" if v is None else str(v)
                     for j, v in enumerate(row))

    assert len(cells) == 1 + 63 and [same(row) for row in cells[1:]] == [same(r.values()) for r in rows]
    assert isinstance(cells[1][value], (int, float)) and cells[1][2] == 2019  # numbers as numbers
    assert "Questionnaire item a001" in _page_text(folder, "indicator/papi_d1_01.html")
    quang_ninh = (folder / "province" / "22.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="\.\./(indicator/[a-z0-9_]+\.html)"', quang_ninh))
    assert len(linked) > 100 and all((folder / p).is_file() for p in linked)


def test_an_indicator_page_maps_the_provinces_by_value(browser, served):
    page, problems = _open(browser, f"{served}/indicator/pci_ec_01.html")
    try:
        classes = _map_classes(page)
        assert len(classes) == 63 and 0 not in classes.values() and len(set(classes.values())) == 4  # 3/5/7-day ties
        assert page.locator("#values-table tbody tr").count() == 63
        assert problems == []
    finally:
        page.close()


def test_the_downloads_page_links_every_export_of_the_warehouse(warehouse_copy, site):
    """downloads.html lists every mart with its row count and description, and each of its links
    (CSV, Parquet, the workbook, datapackage.json) opens a file the export wrote; a site whose
    warehouse has no exports yet says how to make them."""
    from ingest.exports import export_all
    from ingest.report import site_dir

    from conftest import MARTS

    folder, _ = site
    assert "have not been written yet" in (folder / "downloads.html").read_text(encoding="utf-8")
    export_all(warehouse_copy)
    build_site(warehouse_copy)  # where `make run` puts it: <data>/site, beside <data>/exports
    page = site_dir(warehouse_copy) / "downloads.html"
    html = page.read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]*exports/[^"]*)"', html)
    assert len(links) == 2 * MARTS + 2 and all(link.startswith("../exports/") for link in links)
    for link in links:
        assert (page.parent / link).resolve().is_file(), link
    rows = dict(query(warehouse_copy, "select 'fct_rankings', count(*) from marts.fct_rankings"))
    assert f"<td><code>fct_rankings</code></td><td class=\"num\">{rows['fct_rankings']:,}</td>" in html
    assert "They were last written 20" in html and 'href="downloads.html">Downloads</a>' in html


def test_papi_2017_pages_state_the_sub_dimension_labelling_the_declaration_notes(site):
    """The caveat declared on the PAPI 2017 edition (catalogue/undp-papi.yml, `note`) is printed on
    each of that year's ranking pages, and on no other year's."""
    import html

    from ingest import catalogue

    folder, _ = site
    note = catalogue.family("papi").note_on(2017)
    assert "PAPI_2017_eng.xlsx" in note and "Access to justice services" in note
    for page in ("ranking/papi-province-2017.html", "ranking/papi-province-2017-d2_transparency.html",
                 "ranking/papi-province-2017-d3_accountability.html"):
        assert f"About the 2017 edition: {note}" in html.unescape(_page_text(folder, page)), page
    for page in ("ranking/papi-province-2016.html", "ranking/papi-province-2018-d2_transparency.html"):
        assert "About the" not in _page_text(folder, page), page
