"""A static HTML site of the rankings, built from the serving warehouse (read-only).

    govwh report            -> $GOVWH_DATA_DIR/site/index.html (open it, share it, print it)

Pages: a ranked table per indicator, level and year ("n of N", tiers, rank-change arrows, the
published average); a bump chart of ranks per indicator and level with any unit selectable; a
page per province and per ministry; coverage and conflicts. Charts are Plotly (plotly.js ships
inside the plotly wheel, so the site works offline: no CDN); each chart has its data as a table
beneath it. The site is written to a temporary folder (`site.incoming`) and swapped in whole; a
failed build removes it and leaves the previous site as it was (exports.staged).

Text from the data is escaped twice over: HTML-escaped by Jinja's autoescape, and invisible
characters (control codes, bidirectional overrides such as U+202E, zero-width spaces) shown as
`\u202e` by the one rule of ingest/safetext.py, applied to every `{{ … }}` of the templates (the
environment's finalize) and to every string of the charts' and maps' JSON.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import duckdb
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from .config import Settings, tune
from .exports import staged
from .publish import last_publish
from .safetext import escape, has_hidden

INDICATOR_ORDER = ["par_index", "sipas", "pci", "papi"]
LEVEL_LABEL = {"province": "provinces", "ministry": "ministries"}
SHORT = {"par_index": "PAR INDEX", "sipas": "SIPAS", "pci": "PCI", "papi": "PAPI"}
BUMP_TOP = 10


def site_dir(settings: Settings) -> Path:
    return settings.data_dir / "site"


def _rows(con, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def shown(value):
    """Every `{{ … }}` of the templates passes here before autoescape (the environment's finalize):
    text has its invisible characters escaped (ingest/safetext.py); markup the templates made
    (macros, `|safe` JSON, which _json escaped already) passes as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return escape(value)
    return value


def _escaped(value):
    """A chart's or map's data with every string's invisible characters escaped (the names Plotly
    and site.js draw, the hover texts)."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


def _json(spec: dict) -> str:
    # No "<", ">" or "&" at all: nothing in the data can close or comment out the <script> element
    text = json.dumps(_escaped(spec), ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def web_url(value) -> str | None:
    """The URL if it is an absolute http(s) URL with a host and no whitespace or control
    characters (nor invisible ones, such as U+202E: ingest/safetext.py); otherwise None (the
    template then prints it as text, never as a link)."""
    if not isinstance(value, str):
        return None
    return _checked_url(value)


@lru_cache(maxsize=4096)  # a site links a few hundred sources some 37,000 times (1x: 3.8 s of checks)
def _checked_url(value: str) -> str | None:
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value) or has_hidden(value):
        return None
    try:
        parsed = urlparse(value)
        host = parsed.hostname
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parsed.scheme.lower() not in ("http", "https") or not host:
        return None
    return value


def _unit_page(level: str, key: str) -> str:
    return f"{'province' if level == 'province' else 'ministry'}/{key}.html"


def _caveat(r: dict) -> str | None:
    if r.get("rank_from_wording"):
        return "rank read from wording"
    if r.get("rank_derived"):
        return "rank derived from a change"
    if r.get("rank_from_order_of_listing"):
        return "order of listing"
    return None


class Site:
    def __init__(self, settings: Settings, out: Path):
        self.settings, self.out = settings, out
        self.tables: set[str] = set()  # the ranking pages written (province pages link their components' ones)
        self.env = Environment(loader=PackageLoader("ingest", "templates"), autoescape=True,
                               trim_blocks=True, lstrip_blocks=True, finalize=shown)
        self.env.filters["web_url"] = web_url
        last = last_publish(settings) or {}
        self.common = {"published_at": last.get("at", "unknown"), "published_sha": last.get("sha256", "?" * 12),
                       "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.pages = 0
        # caveats the family declarations state on an edition (catalogue/<family>.yml, `note`), printed
        # on each page of that year's tables: {(indicator, year): text}
        from . import catalogue

        self.edition_notes = {(fam.indicator, e.year): e.note for fam in catalogue.families(settings.catalogue_dir)
                              for e in fam.editions if e.note}
        self.writing: Path | None = None  # the file being written, named in a disk-full error

    def write(self, rel: str, template: str, **context) -> None:
        depth = rel.count("/")
        html = self.env.get_template(template).render(root="../" * depth, **self.common, **context)
        path = self.writing = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        self.pages += 1


def build_site(settings: Settings, out: Path | None = None) -> dict:
    started = time.perf_counter()
    target = out or site_dir(settings)
    current: dict = {}  # the Site, once made: its file being written is named in a disk-full error
    with staged(target, "writing the report", lambda: current["site"].writing if current else None) as staging:
        current["site"] = site = Site(settings, staging)
        site.final = target  # where the site will be once swapped in (links to the exports are relative to it)
        _write_site(site, settings, staging)
    return {"folder": str(target), "pages": site.pages, "seconds": round(time.perf_counter() - started, 2)}


def _write_site(site: Site, settings: Settings, staging: Path) -> None:
    (staging / "assets").mkdir(parents=True)
    import plotly

    site.writing = staging / "assets" / "plotly.min.js"
    shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", site.writing)
    static = Path(__file__).parent / "static"
    for name in ("site.css", "site.js", "search.js"):
        site.writing = staging / "assets" / name
        shutil.copyfile(static / name, site.writing)
    # the province boundaries (scripts/make_map_asset.py), as a script so maps draw from file:// too
    site.writing = staging / "assets" / "provinces.js"
    site.writing.write_text(
        "window.govwhMap = " + (static / "maps" / "provinces.json").read_text(encoding="utf-8").strip() + ";\n",
        encoding="utf-8")
    con = tune(duckdb.connect(str(settings.warehouse), read_only=True))
    try:
        _write_rankings(site, con)
        _write_units(site, con)
        _write_indicators(site, con, _map_units(), map_asset()["attribution"])
        _write_coverage(site, con)
        _write_conflicts(site, con)
        _write_today(site, con)
        _write_downloads(site, con)
    finally:
        con.close()
    _write_changes(site, settings)
    _write_search_index(site, staging)


def _write_search_index(site: Site, staging: Path) -> None:
    """assets/search-index.js for the search box on every page (assets/search.js): each folded
    province name or alias the resolver accepts (ingest/names.py: with or without diacritics, old
    names, "TP HCM") -> the provinces with a page it can mean, with the years each existed. The
    page folds what a reader types exactly as names.fold and strip_prefix do (tests compare them)."""
    from .names import PROVINCE_PREFIXES, provinces

    registry = provinces()
    pages = {p.stem for p in (staging / "province").glob("*.html")}
    units = {key: {"name": u.name, "page": f"province/{key}.html",
                   "years": f"{u.valid_from.year if u.valid_from else ''}-{u.valid_to.year if u.valid_to else ''}"}
             for key, u in registry.units.items() if key in pages}
    keys = {folded: sorted(k for k in found if k in units) for folded, found in registry.folded_names().items()}
    index = {"prefixes": list(PROVINCE_PREFIXES), "keys": {k: v for k, v in sorted(keys.items()) if v},
             "units": dict(sorted(units.items()))}
    site.writing = staging / "assets" / "search-index.js"
    site.writing.write_text("window.govwhSearch = " + _json(index) + ";\n", encoding="utf-8")


# ------------------------------------------------------------------ maps
# best to worst; the lightest stays visible on the white page (it was #e3f1fa, 1.1:1 against white)
MAP_CLASSES = ("#0b3c5d", "#1f6f9f", "#4fa3d1", "#8cc3e8", "#c3def2")
MAP_MISSING = "#c8c8c8"


@lru_cache(maxsize=1)
def map_asset() -> dict:
    return json.loads((Path(__file__).parent / "static" / "maps" / "provinces.json").read_text(encoding="utf-8"))


def _map_units() -> set[str]:
    return set(map_asset()["units"]["63"])


def ranking_map(rows: list[dict], units_ranked: int | None, drawn: set[str], label: str = "score") -> dict | None:
    """A choropleth of one provincial table: by rank where every unit shown has one, else by score.
    Five classes, best first; units the table does not print stay grey ("not in this table")."""
    shown = [r for r in rows if r["unit_key"] in drawn and (r["rank"] is not None or r["score"] is not None)]
    if not shown:
        return None
    by_rank = all(r["rank"] is not None for r in shown) and units_ranked
    if by_rank:
        edges = [round(units_ranked * i / 5) for i in range(6)]

        def cls(r):  # the class whose range (as the legend prints it) holds the rank
            return next((i for i in range(5) if r["rank"] <= edges[i + 1]), 4)
        legend = [f"rank {edges[i] + 1}-{edges[i + 1]}" for i in range(5)]
    else:
        shown = [r for r in shown if r["score"] is not None]  # by score: a rank-only unit stays grey
        values = sorted(r["score"] for r in shown)
        # quintile cuts; tied values (a survey question's 3, 5, 7 days) merge classes rather than leave one
        # empty, and a cut at the lowest value would leave the lowest class empty
        cuts = sorted({values[min(len(values) - 1, len(values) * i // 5)] for i in range(1, 5)} - {values[0]})
        k = len(cuts)  # k + 1 classes

        def cls(r):
            return k - sum(r["score"] >= c for c in cuts)
        bounds = [values[0], *cuts, values[-1]]
        # a class holds its low bound, not its high one (that is the next class's low bound): the best
        # class "66.93-75.09", the next "64.27 to under 66.93", so no printed bound sits in two classes
        legend = [f"{label} {bounds[k]:.2f}-{bounds[k + 1]:.2f}"] + \
            [f"{label} {bounds[k - i]:.2f} to under {bounds[k - i + 1]:.2f}" for i in range(1, k + 1)]
    fills, titles, classes = {}, {}, {}
    for r in shown:
        c = cls(r)
        fills[r["unit_key"]], classes[r["unit_key"]] = MAP_CLASSES[c], c + 1
        parts = ([f"rank {r['rank']}"] if r["rank"] is not None else []) + \
            ([f"{label} {r['score']:.2f}"] if r["score"] is not None else [])
        titles[r["unit_key"]] = f"{r['unit_name']}: " + ", ".join(parts)
    return {"set": "63", "fills": fills, "titles": titles, "classes": classes, "missing": MAP_MISSING,
            "missing_title": "not in this table",
            "legend": [{"fill": f, "label": lbl} for f, lbl in zip(MAP_CLASSES, legend)],
            "measure": "rank" if by_rank else label, "mapped": len(shown)}


def locator_map(key: str, name: str) -> dict:
    return {"set": "63", "fills": {key: MAP_CLASSES[0]}, "titles": {key: name}, "classes": {key: 1},
            "missing": "#e6e6e6", "missing_title": "", "legend": [], "measure": "location", "mapped": 1}


def _indicators(con) -> dict[str, dict]:
    return {r["indicator_code"]: r for r in _rows(con, "select * from marts.dim_indicator")}


# The columns of a ranking page's table as its own download (CSV and XLSX beside the page).
TABLE_COLUMNS = ("indicator_code", "level", "year", "component_code", "rank", "rank_label", "rank_best", "rank_worst",
                 "unit_key", "unit_name", "score", "ci_low", "ci_high", "tier", "rank_change", "previous_units_ranked",
                 "units_ranked", "rank_source", "value_source_type", "value_source_url", "rank_source_type",
                 "rank_source_url")


def _write_page_csv(site: Site, rel: str, header, data) -> str:
    """A page's table as <rel> (a CSV in UTF-8 with BOM, as the exports; text cells escaped and
    neutralised as there, ingest/exports.py); returns its file name, for the page's link."""
    import csv

    from .exports import text_cell

    site.writing = site.out / rel
    site.writing.parent.mkdir(parents=True, exist_ok=True)
    with open(site.writing, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([text_cell(v) for v in row] for row in data)
    return site.writing.name


def _write_table_files(site: Site, stem: str, header, data) -> dict[str, str]:
    """Exactly the rows a page's table shows, as <stem>.csv and <stem>.xlsx beside the page (a
    ranking page's and a survey indicator page's); returns their file names, for the page's links."""
    from .exports import _Workbook

    names = {"csv": _write_page_csv(site, f"{stem}.csv", header, data)}
    site.writing = site.out / f"{stem}.xlsx"
    book = _Workbook(site.writing, small=True)
    book.sheet("table", list(header), data)
    book.book.close()
    names["xlsx"] = site.writing.name
    return names


def _scores_chart(scored: list[dict], bands: bool) -> dict:
    """A table's scores: bars from zero where there are no intervals; where the publisher gives 95%
    intervals, dots with whiskers on an axis fitted to the intervals (from zero, a PAPI total's
    whiskers of +-1 on a scale of 0-50 shrink to nothing)."""
    names, scores = [r["unit_name"] for r in scored], [r["score"] for r in scored]
    layout = {"height": max(320, 22 * len(scored) + 80), "margin": {"l": 190, "r": 20, "t": 10, "b": 40},
              "yaxis": {"autorange": "reversed", "automargin": True}, "xaxis": {"title": {"text": "score"}}}
    if not bands:
        return {"data": [{"type": "bar", "orientation": "h", "x": scores, "y": names, "marker": {"color": "#0b5cad"},
                          "hovertemplate": "%{y}: %{x:.2f}<extra></extra>"}], "layout": layout}
    low = [r["ci_low"] if r["ci_low"] is not None else r["score"] for r in scored]
    high = [r["ci_high"] if r["ci_high"] is not None else r["score"] for r in scored]
    pad = max(0.05 * (max(high) - min(low)), 0.01)
    layout["xaxis"] = {"title": {"text": "score (dot) and the publisher's 95% interval (whiskers); the axis does not "
                                         "start at zero"},
                       "range": [min(low) - pad, max(high) + pad], "zeroline": False}
    return {"data": [{"type": "scatter", "mode": "markers", "x": scores, "y": names,
                      "marker": {"color": "#0b5cad", "size": 7},
                      "error_x": {"type": "data", "symmetric": False, "color": "#444", "thickness": 1.5, "width": 3,
                                  "array": [h - v for h, v in zip(high, scores)],
                                  "arrayminus": [v - lo for v, lo in zip(scores, low)]},
                      "customdata": [[lo, h] for lo, h in zip(low, high)],
                      "hovertemplate": "%{y}: %{x:.2f} (95%: %{customdata[0]:.2f}-%{customdata[1]:.2f})<extra></extra>"}],
            "layout": layout}


# Every kind of part of an index (seeds/components.csv: PCI's sub-indices, PAPI's dimensions and their
# sub-dimensions, SIPAS's components, PAR INDEX's component areas and part-scores, and any kind added
# there) gets a ranking page, but a variant (PAPI's weighted total, PCI's unweighted one): that one
# is printed beside the ranked total instead.
NO_PAGE_KINDS = ("variant",)


def _table_page(component: str, slug: str, year: int) -> str:
    return f"ranking/{slug}-{year}.html" if component == "overall" else f"ranking/{slug}-{year}-{component}.html"


def _component_groups(comps: list[dict]) -> list[tuple[str, list[dict]]]:
    """A unit's latest components, one table per index ("PCI 2019", "PAPI 2019"), in the report's order."""
    by_index = defaultdict(list)
    for c in comps:
        by_index[c["indicator_code"]].append(c)
    return [(f"{SHORT[ind]} {rows[0]['year']}", rows) for ind, rows in
            sorted(by_index.items(), key=lambda kv: INDICATOR_ORDER.index(kv[0]))]


def _write_rankings(site: Site, con) -> None:
    indicators = _indicators(con)
    drawn, attribution = _map_units(), map_asset()["attribution"]
    tables = """(select indicator_code, component_code, kind, name_en, name_vi, sort_order, parent_code from marts.dim_component
                 where component_code = 'overall' or not list_contains($no_page, kind))"""
    # the indicators the report writes pages for, and the component kinds that get no page of their own
    params = {"no_page": list(NO_PAGE_KINDS), "indicators": INDICATOR_ORDER}
    coverage = _rows(con, f"""select c.indicator_code, c.level, c.year, c.component_code, k.kind, k.parent_code,
            k.name_en as component_name_en,
            k.name_vi as component_name_vi, greatest(c.units_with_figure, c.units_with_rank) as units_held,
            c.units_with_figure, c.units_ranked, coalesce(c.units_no_data, 0) as units_no_data, c.is_complete
        from marts.mart_coverage c join {tables} k using (indicator_code, component_code)
        where list_contains($indicators, c.indicator_code) and c.level in ('province', 'ministry')
          and (c.component_code = 'overall' or greatest(c.units_with_figure, c.units_with_rank) > 0)
        order by c.indicator_code, c.level, c.year, k.sort_order""", params)
    summaries = {(r["indicator_code"], r["level"], r["year"], r["component_code"]): r for r in _rows(con, """
        select indicator_code, level, year, component_code, published_average, mean_score, previous_year,
               series_break_note
        from marts.mart_year_summaries""")}
    # only the tables that get a page (the indicators the report shows): at 100x today's data the
    # scale harness's synthetic index held 8.3 M more rows, loaded for no page (17 GB, 208 s)
    rankings = _rows(con, f"""select r.*, r.value_source_url as source_url from marts.fct_rankings r
        where list_contains($indicators, r.indicator_code)
          and r.component_code in (select component_code from {tables} k where k.indicator_code = r.indicator_code)
        order by r.rank nulls last, r.score desc nulls last, r.unit_name""", params)
    # the other total a publisher prints beside the ranked one (PAPI's weighted total of 2019, PCI before
    # weighting in 2007-2010): shown with its own rank, so a reader sees which total is ranked
    variants: dict[tuple, dict] = defaultdict(dict)
    variant_names: dict[tuple, str] = {}
    for v in _rows(con, """select r.indicator_code, r.level, r.year, r.unit_key, r.score, r.rank, k.name_en
            from marts.fct_rankings r join marts.dim_component k using (indicator_code, component_code)
            where k.kind = 'variant' and k.parent_code = 'overall'"""):
        variants[(v["indicator_code"], v["level"], v["year"])][v["unit_key"]] = v
        variant_names[(v["indicator_code"], v["level"], v["year"])] = v["name_en"]
    overall_names = {r["indicator_code"]: r["name_en"] for r in _rows(
        con, "select indicator_code, name_en from marts.dim_component where component_code = 'overall'")}
    by_table: dict[tuple, list[dict]] = defaultdict(list)
    for r in rankings:
        by_table[(r["indicator_code"], r["level"], r["year"], r["component_code"])].append(r)

    groups, parts = defaultdict(list), defaultdict(list)
    for c in coverage:
        if c["component_code"] == "overall":
            groups[(c["indicator_code"], c["level"])].append(c)
        else:
            parts[(c["indicator_code"], c["level"], c["year"])].append(c)
    index_groups = []
    for ind in INDICATOR_ORDER:
        for level in ("province", "ministry"):
            years = groups.get((ind, level))
            if not years:
                continue
            meta = indicators[ind]
            slug = f"{ind}-{level}"
            index_groups.append({"name_en": meta["name_en"], "name_vi": meta["name_vi"], "slug": slug,
                                 "level_label": LEVEL_LABEL[level], "years": years})
            for c in years:
                year = c["year"]
                # each page links the parts beneath it (the headline its dimensions, a dimension its
                # sub-dimensions) and the tables above it
                pages = {p["component_code"]: dict(p, page=_table_page(p["component_code"], slug, year).split("/")[-1])
                         for p in parts.get((ind, level, year), [])}
                children = defaultdict(list)
                for p in pages.values():
                    children[p["parent_code"] if p["parent_code"] in pages else "overall"].append(p)
                _write_table(site, c, by_table.get((ind, level, year, "overall"), []), meta, slug, drawn, attribution,
                             summaries.get((ind, level, year, "overall"), {}), components=children["overall"],
                             ranked_on=overall_names.get(ind), variant_name=variant_names.get((ind, level, year)),
                             variants=variants.get((ind, level, year), {}))
                for code, p in pages.items():
                    _write_table(site, p, by_table.get((ind, level, year, code), []), meta, slug, drawn,
                                 attribution, summaries.get((ind, level, year, code), {}),
                                 components=children.get(code, []), parent=pages.get(p["parent_code"]),
                                 overall_page=_table_page("overall", slug, year).split("/")[-1])
            _write_bump(site, ind, level, meta,
                        [r for k, v in by_table.items() if k[:2] == (ind, level) and k[3] == "overall" for r in v])
    site.write("index.html", "index.html", title="Rankings", charts=False, groups=index_groups)


def _write_table(site: Site, c: dict, rows: list[dict], meta: dict, slug: str, drawn: set[str], attribution: str,
                 summary: dict, components: list[dict] = (), overall_page: str | None = None, ranked_on=None,
                 variant_name=None, variants: dict | None = None, parent: dict | None = None) -> None:
    """One ranked table's page (the headline index, or one of its parts): table, chart, map, its CSV
    and XLSX; a page links the parts beneath it, and a part's page the part above it and the headline."""
    ind, level, year, component = c["indicator_code"], c["level"], c["year"], c["component_code"]
    for r in rows:
        r["unit_page"] = _unit_page(level, r["unit_key"])
        r["source_type"] = r["value_source_type"]
        r["caveat"] = _caveat(r)
        # the rank's own source, linked where it is not the value's
        r["rank_link"] = None if r["rank_publication_id"] in (None, r["value_publication_id"]) else r["rank_source_url"]
        v = (variants or {}).get(r["unit_key"])
        r["variant_score"], r["variant_rank"] = (v["score"], v["rank"]) if v else (None, None)
    scored = [r for r in rows if r["score"] is not None]
    bands = any(r["rank_best"] is not None for r in rows)
    spec = _json(_scores_chart(scored, bands)) if scored else None
    table_map = ranking_map(rows, rows[0]["units_ranked"] if rows else None, drawn) if level == "province" else None
    page = _table_page(component, slug, year)
    site.tables.add(page)
    table_files = _write_table_files(site, page.removesuffix(".html"), TABLE_COLUMNS,
                                     [[r.get(c) for c in TABLE_COLUMNS] for r in rows])
    is_overall = component == "overall"
    name_en = meta["name_en"] if is_overall else f"{meta['name_en']}: {c['component_name_en']}"
    name_vi = meta["name_vi"] if is_overall else f"{meta['name_vi']}: {c['component_name_vi']}"
    title = f"{SHORT[ind]} {year}" if is_overall else f"{SHORT[ind]} {year}: {c['component_name_en']}"
    site.write(page, "ranking.html", title=title,
               charts=bool(spec), spec=spec, rows=rows, name_en=name_en, name_vi=name_vi,
               year=year, level_label=LEVEL_LABEL[level], units_held=c["units_held"],
               units_no_data=c["units_no_data"], units_ranked=c["units_ranked"], is_complete=c["is_complete"],
               published_average=summary.get("published_average"), mean_score=summary.get("mean_score"),
               previous_year=summary.get("previous_year"), bands=bands, maps=bool(table_map),
               map_spec=_json(table_map) if table_map else None, map_info=table_map,
               attribution=attribution, ha_tay=any(r["unit_key"] == "28" for r in rows),
               series_first_year=rows[0]["series_first_year"] if rows else None,
               series_break_note=summary.get("series_break_note"),
               ranked_on=ranked_on, variant_name=variant_name, table_files=table_files,
               components=components, overall_page=overall_page, parent=parent,
               edition_note=site.edition_notes.get((ind, year)))


def _write_bump(site: Site, ind: str, level: str, meta: dict, rows: list[dict]) -> None:
    ranked = [r for r in rows if r["rank"] is not None]
    if not ranked:
        return
    years = sorted({r["year"] for r in ranked})
    latest = max(years)
    units: dict[str, dict] = {}
    for r in ranked:
        u = units.setdefault(r["unit_key"], {"key": r["unit_key"], "name": r["unit_name"], "ranks": {},
                                              "page": _unit_page(level, r["unit_key"])})
        u["ranks"][r["year"]] = r["rank"]
    series = {}
    span = list(range(min(years), max(years) + 1))  # a year without a rank breaks the line
    for key, u in units.items():
        series[key] = {"type": "scatter", "mode": "lines+markers", "name": u["name"], "meta": key,
                       "x": span, "y": [u["ranks"].get(y) for y in span], "connectgaps": False,
                       "hovertemplate": u["name"] + " %{x}: rank %{y}<extra></extra>"}
    top = sorted((u for u in units.values() if u["ranks"].get(latest, 999) <= BUMP_TOP),
                 key=lambda u: u["ranks"][latest])
    spec = {"data": [series[u["key"]] for u in top],
            "layout": {"height": 520, "margin": {"l": 50, "r": 20, "t": 10, "b": 40},
                       "yaxis": {"autorange": "reversed", "title": {"text": "rank"}, "dtick": 5, "zeroline": False},
                       "xaxis": {"dtick": 1, "title": {"text": "year"}}, "legend": {"orientation": "h"}}}
    site.write(f"bump/{ind}-{level}.html", "bump.html", title=f"{SHORT[ind]} ranks over the years", charts=True,
               spec=_json(spec), series_json=_json(series), name_en=meta["name_en"], level_label=LEVEL_LABEL[level],
               top_n=BUMP_TOP, latest_year=latest, years=years,
               units=sorted(units.values(), key=lambda u: u["name"]))


def _history_spec(history: list[dict]) -> str | None:
    by_ind = defaultdict(list)
    for h in history:
        if h["rank"] is not None:
            by_ind[h["indicator_label"]].append(h)
    if not by_ind:
        return None
    data = []
    for label, hs in by_ind.items():
        ranks = {h["year"]: h["rank"] for h in hs}
        span = list(range(min(ranks), max(ranks) + 1))  # a year without a rank breaks the line
        data.append({"type": "scatter", "mode": "lines+markers", "name": label, "x": span,
                     "y": [ranks.get(y) for y in span], "connectgaps": False,
                     "hovertemplate": label + " %{x}: rank %{y}<extra></extra>"})
    worst = max(h["rank"] for hs in by_ind.values() for h in hs)
    step = 1 if worst <= 12 else 5 if worst <= 70 else 10  # whole ranks only: no tick at rank 1.5, none at 0
    ticks = sorted({1, *range(step, worst + 1, step)})
    return _json({"data": data, "layout": {"height": 380, "margin": {"l": 50, "r": 20, "t": 10, "b": 40},
                                           "yaxis": {"autorange": "reversed", "title": {"text": "rank"},
                                                     "zeroline": False, "tickmode": "array", "tickvals": ticks},
                                           "xaxis": {"dtick": 1}, "legend": {"orientation": "h"}}})


UNIT_LABEL = {"share_0_1": "share", "percent_0_100": "%", "rating_1_5": "rating 1-5", "days": "days",
              "hours": "hours", "count": "count", "score": "score", "other": ""}


def _fmt_sub(value, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "share_0_1":
        return f"{100 * value:.1f}%"
    if unit in ("days", "hours", "count"):
        return f"{value:g}"
    return f"{value:.2f}"


def _indicator_page(code: str, year: int | None = None) -> str:
    """The latest year's page of an indicator is indicator/<code>.html; an earlier year's adds the year."""
    return f"indicator/{code}.html" if year is None else f"indicator/{code}-{year}.html"


# The columns of a survey indicator page's table as its own download (CSV and XLSX beside the page).
INDICATOR_TABLE_COLUMNS = ("indicator_code", "subindicator_code", "year", "place", "unit_key", "unit_name", "value",
                           "unit_of_measure", "value_status", "name_as_published", "publication_id", "source_url")


def _write_indicators(site: Site, con, drawn: set[str], attribution: str) -> None:
    """A page for each survey indicator below a sub-index or dimension and each year it was asked
    (indicator/<code>.html the latest, indicator/<code>-<year>.html the earlier ones): the provinces
    ordered on that one question (by value, highest first: most questions declare no direction, so
    the order says nothing of better or worse), its unit of measure, the spread as a histogram, a map
    by value, and every year's lowest / median / highest as computed beside the publisher's printed
    Min / Median / Max (VCCI's 2017-2019 rows; UNDP's PAPI files print none); the table as CSV and XLSX."""
    summary = defaultdict(list)
    for m in _rows(con, "select * from marts.mart_subindicator_summary order by year"):
        summary[m["subindicator_code"]].append(m)
    values: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for v in _rows(con, """select v.subindicator_code, v.year, v.unit_key, v.unit_name, v.value, v.value_status,
            v.value_place as place, v.name_as_published, v.source_url, v.publication_id
        from marts.fct_subindicator_values v where v.level = 'province'
        order by v.value_place nulls last, v.unit_name"""):
        values[v["subindicator_code"]][v["year"]].append(v)
    items = _rows(con, """select d.*, c.name_en as parent_name, c.name_vi as parent_name_vi
        from marts.dim_subindicator d left join marts.dim_component c
          on c.indicator_code = d.indicator_code and c.component_code = d.parent_component_code
        order by d.indicator_code, d.subindicator_code""")
    for item in items:
        code = item["subindicator_code"]
        by_year = values.get(code)
        if not by_year:
            continue
        latest = max(by_year)
        pages = {y: _indicator_page(code, None if y == latest else y) for y in by_year}
        for year, rows in sorted(by_year.items()):
            _write_indicator_year(site, item, year, rows, pages, summary.get(code, []), drawn, attribution)


def _write_indicator_year(site: Site, item: dict, year: int, rows: list[dict], pages: dict[int, str],
                          summary: list[dict], drawn: set[str], attribution: str) -> None:
    """One indicator's page for one year; its table of every year links the other years' pages."""
    code, unit = item["subindicator_code"], item["unit_of_measure"]
    for r in rows:  # the place is the mart's (value_place: ties share it)
        r["shown"] = _fmt_sub(r["value"], unit) if r["value"] is not None else (r["value_status"] or "no data")
        r["unit_page"] = _unit_page("province", r["unit_key"])
    held = [r for r in rows if r["value"] is not None]
    shown = [{"unit_key": r["unit_key"], "unit_name": r["unit_name"], "rank": None,
              "score": (100 * r["value"] if unit == "share_0_1" else r["value"])} for r in held]
    label = "%" if unit == "share_0_1" else UNIT_LABEL.get(unit, unit)  # shares are mapped and charted as %
    table_map = ranking_map(shown, None, drawn, label=label)
    spec = {"data": [{"type": "histogram", "x": [s["score"] for s in shown], "marker": {"color": "#0b5cad"},
                      "hovertemplate": "%{x}: %{y} provinces<extra></extra>"}],
            "layout": {"height": 260, "margin": {"l": 50, "r": 20, "t": 10, "b": 40}, "bargap": 0.05,
                       "xaxis": {"title": {"text": label}},
                       "yaxis": {"title": {"text": "provinces"}}}} if held else None
    years = [{"year": m["year"], "units": m["units_with_value"],
              "computed": " / ".join(_fmt_sub(m[k], unit) for k in ("computed_min", "computed_median", "computed_max")),
              "published": " / ".join(_fmt_sub(m[k], unit) for k in ("published_min", "published_median", "published_max"))
              if m["published_median"] is not None else "", "reconciles": m["reconciles"],
              "page": pages[m["year"]].split("/")[-1] if m["year"] in pages and m["year"] != year else None}
             for m in summary]
    page = pages[year]
    table_files = _write_table_files(
        site, page.removesuffix(".html"), INDICATOR_TABLE_COLUMNS,
        [(item["indicator_code"], code, r["year"], r["place"], r["unit_key"], r["unit_name"], r["value"], unit,
          r["value_status"], r["name_as_published"], r["publication_id"], r["source_url"]) for r in rows])
    parent_page = _table_page(item["parent_component_code"], f"{item['indicator_code']}-province", year)
    site.write(page, "indicator.html", title=f"{SHORT.get(item['indicator_code'], item['indicator_code'])} "
                                            f"{year}: {item['name_en']}",
               charts=bool(spec), maps=bool(table_map), item=item, year=year, rows=rows,
               unit_label=UNIT_LABEL.get(unit, unit), spec=_json(spec) if spec else None,
               map_spec=_json(table_map) if table_map else None, map_info=table_map, attribution=attribution,
               years=years, indicator=SHORT.get(item["indicator_code"], item["indicator_code"]),
               table_files=table_files, file_url=rows[0]["source_url"],
               parent_page=parent_page.split("/")[-1] if parent_page in site.tables else None)


def _group_subindicators(rows: list[dict]) -> list[dict]:
    """Rows of one unit grouped by indicator, year and parent sub-index / dimension, formatted."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        g = groups.setdefault((r["indicator_code"], r["year"], r["parent_component_code"]), {
            "indicator": SHORT.get(r["indicator_code"], r["indicator_code"]), "year": r["year"],
            "parent": r["parent_name"] or r["parent_component_code"], "rows": []})
        unit = r["unit_of_measure"]
        page = _indicator_page(r["subindicator_code"], None if r["year"] == r["latest_asked"] else r["year"])
        g["rows"].append({"name": r["name_en"], "page": page,  # that year's page of the indicator
                          "unit": UNIT_LABEL.get(unit, unit), "value": _fmt_sub(r["value"], unit),
                          "min": _fmt_sub(r["computed_min"], unit), "median": _fmt_sub(r["computed_median"], unit),
                          "max": _fmt_sub(r["computed_max"], unit), "units": r["units_with_value"]})
    return list(groups.values())


def _write_units(site: Site, con) -> None:
    history = _rows(con, """select indicator_code, level, unit_key, year, score, rank_label, rank, tier, rank_change,
            previous_units_ranked, units_ranked, value_source_type as source_type, value_source_url as source_url
        from marts.fct_rankings where component_code = 'overall' order by indicator_code, year""")
    by_unit = defaultdict(list)
    for h in history:
        h["indicator_label"] = SHORT.get(h["indicator_code"], h["indicator_code"])
        by_unit[(h["level"], h["unit_key"])].append(h)
    streaks = defaultdict(list)
    for s in _rows(con, """select * from marts.mart_unit_latest where component_code = 'overall' and rank is not null
            order by indicator_code"""):
        def fmt(k):
            years, status = s[f"streak_top{k}_years"], s[f"streak_top{k}_status"]
            return {"not_in_top": "no", "at_least": f"at least {years}", "unknown": "unknown",
                    "since_series_break": f"{years} (since the series break)"}.get(status, str(years))
        streaks[(s["level"], s["unit_key"])].append({"indicator_label": SHORT.get(s["indicator_code"]), "year": s["year"],
                                                     "rank": s["rank"], "top1": fmt(1), "top3": fmt(3), "top10": fmt(10)})
    components = defaultdict(list)
    for c in _rows(con, """select u.level, u.unit_key, u.indicator_code, u.year, u.component_code, u.score, u.rank_label,
            u.component_name_en as name_en,
            u.component_name_vi as name_vi, u.value_source_type as source_type, u.value_source_url as source_url
        from marts.mart_unit_latest u join marts.dim_component k using (indicator_code, component_code)
        where u.component_code <> 'overall' and u.score is not null
          and ((u.level = 'province' and u.indicator_code = 'pci')
               or (u.level = 'province' and u.indicator_code = 'papi' and k.kind = 'dimension')
               or (u.level = 'ministry' and u.indicator_code = 'par_index'))
        order by u.component_sort_order"""):
        page = _table_page(c["component_code"], f"{c['indicator_code']}-{c['level']}", c["year"])
        c["page"] = page if page in site.tables else None  # the component's own ranking page of that year
        components[(c["level"], c["unit_key"])].append(c)

    # the survey indicators beneath each sub-index / dimension, the unit's latest year, with the
    # provincial distribution (marts.fct_subindicator_values, marts.mart_subindicator_summary)
    subindicators = defaultdict(list)
    for s in _rows(con, """select v.unit_key, v.indicator_code, v.year, v.subindicator_code, v.parent_component_code,
            c.name_en as parent_name, d.name_en, v.unit_of_measure, v.value, v.value_status,
            m.computed_min, m.computed_median, m.computed_max, m.units_with_value, l.latest_asked
        from marts.fct_subindicator_values v
        join marts.dim_subindicator d using (indicator_code, subindicator_code)
        join (select subindicator_code, max(year) as latest_asked from marts.fct_subindicator_values
              where level = 'province' group by all) as l using (subindicator_code)
        join marts.mart_subindicator_summary m using (indicator_code, year, subindicator_code)
        left join marts.dim_component c on c.indicator_code = v.indicator_code and c.component_code = v.parent_component_code
        qualify v.year = max(v.year) over (partition by v.unit_key, v.indicator_code)
        order by v.indicator_code, c.sort_order, v.subindicator_code"""):
        subindicators[s["unit_key"]].append(s)
    drawn, attribution = _map_units(), map_asset()["attribution"]
    provinces = _rows(con, """select *, current_province_name as today_name, current_province_key as today_key
        from marts.dim_province order by province_name""")
    listed = []
    for p in provinces:
        key = p["province_key"]
        hist = by_unit.get(("province", key), [])
        if not hist:
            continue
        era = "" if p["valid_to"] is None else f"; existed until {p['valid_to']}"
        comps = components.get(("province", key), [])
        locator = locator_map(key, p["province_name"]) if key in drawn else None
        site.write(_unit_page("province", key), "unit.html", title=p["province_name"], charts=bool(_history_spec(hist)),
                   maps=bool(locator), map_spec=_json(locator) if locator else None, attribution=attribution,
                   ha_tay=key == "28", level_is_province=True, subindicators=_group_subindicators(subindicators.get(key, [])),
                   name=p["province_name"], subtitle=f"{p['official_name']} · GSO code {p['province_code']} · "
                   f"{p['region_en']}{era}", today=p["today_name"] if p["today_key"] != key else None,
                   today_unofficial=p["today_key"] != key, spec=_history_spec(hist), history=hist,
                   component_groups=_component_groups(comps), streaks=streaks.get(("province", key), []))
        listed.append({"page": _unit_page("province", key), "name": p["province_name"],
                       "note": "" if p["valid_to"] is None else f"(until {p['valid_to'].year})"})
    site.write("provinces.html", "list.html", title="Provinces", charts=False, units=listed,
               intro="Every province with a figure in the warehouse, including Hà Tây (until 2008) and the "
                     "provinces merged on 2025-07-01.")
    ministries = _rows(con, "select * from marts.dim_ministry order by ministry_name")
    listed = []
    for m in ministries:
        key = m["ministry_key"]
        hist = by_unit.get(("ministry", key), [])
        if not hist:
            continue
        comps = components.get(("ministry", key), [])
        site.write(_unit_page("ministry", key), "unit.html", title=m["ministry_name"], charts=bool(_history_spec(hist)),
                   name=m["ministry_name"], subtitle=f"{m['ministry_name_en']} · {m['kind']}" +
                   (f" · {m['note']}" if m["note"] else ""), today=None, today_unofficial=False,
                   spec=_history_spec(hist), history=hist, component_groups=_component_groups(comps),
                   streaks=streaks.get(("ministry", key), []))
        listed.append({"page": _unit_page("ministry", key), "name": m["ministry_name"], "note": m["ministry_name_en"]})
    site.write("ministries.html", "list.html", title="Ministries", charts=False, units=listed,
               intro="Ministries and ministry-level agencies ranked in the ministerial PAR INDEX.")


def _write_coverage(site: Site, con) -> None:
    rows = _rows(con, """select indicator_code as indicator, level, year, units_with_figure, units_ranked, is_complete
        from marts.mart_coverage where component_code = 'overall' and units_ranked is not null
        order by indicator_code, level, year""")
    traces = defaultdict(lambda: {"x": [], "y": []})
    for r in rows:
        t = traces[f"{SHORT.get(r['indicator'], r['indicator'])} ({r['level']})"]
        t["x"].append(r["year"])
        t["y"].append(round(100.0 * r["units_with_figure"] / r["units_ranked"], 1))
    spec = _json({"data": [{"type": "scatter", "mode": "lines+markers", "name": name, **t,
                            "hovertemplate": name + " %{x}: %{y}%<extra></extra>"} for name, t in traces.items()],
                  "layout": {"height": 380, "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
                             "yaxis": {"title": {"text": "% of ranked units with a figure"}, "range": [0, 105]},
                             "xaxis": {"dtick": 1}, "legend": {"orientation": "h"}}})
    publications = _rows(con, """select p.publication_id, p.title, p.source_type, p.citation_url, count(o.observation_id) as figures
        from marts.dim_publication p left join marts.fct_observations o using (publication_id)
        group by all order by min(p.source_priority), p.publication_id""")
    for p in publications:
        p["host"] = (urlparse(p["citation_url"]).hostname if web_url(p["citation_url"]) else None) or "source"
    site.write("coverage.html", "coverage.html", title="Coverage", charts=True, spec=spec, rows=rows,
               publications=publications)


def _figure(value) -> str:
    """A conflicting figure as printed, to at most 4 decimals (a workbook's unrounded 46.66279220581055
    reads 46.6628): enough to see the disagreement, no float noise."""
    if value is None:
        return ""
    return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _write_conflicts(site: Site, con) -> None:
    """One row per fact the sources disagree on (mart_conflicts has one per disagreeing pair: three
    sources of one fact make two or three pairs), every source's figure in it, and the figure the
    preference rule picked, with its source (which may be a third source that agrees with one side)."""
    facts: dict[tuple, dict] = {}
    for c in _rows(con, """select c.*, f.value_publication_id, f.rank_publication_id, f.value as preferred_value,
            f.published_rank as preferred_rank, f.value_source_type, f.value_source_url, f.rank_source_type,
            f.rank_source_url
        from marts.mart_conflicts c join marts.fct_indicator_scores f using (indicator_code, level, unit_key, component_code, year)
        order by c.indicator_code, c.year, c.unit_name, c.component_code, c.conflict_kind"""):
        is_value = c["conflict_kind"] == "value"
        key = (c["indicator_code"], c["level"], c["unit_key"], c["component_code"], c["year"], c["conflict_kind"])
        fact = facts.get(key)
        if fact is None:
            fact = facts[key] = {
                "indicator": SHORT.get(c["indicator_code"], c["indicator_code"]), "component": c["component_code"],
                "year": c["year"], "unit_name": c["unit_name"], "unit_page": _unit_page(c["level"], c["unit_key"]),
                "kind": c["conflict_kind"], "sources": {},
                "preferred": _figure(c["preferred_value"] if is_value else c["preferred_rank"]),
                "preferred_url": c["value_source_url"] if is_value else c["rank_source_url"],
                "preferred_type": c["value_source_type"] if is_value else c["rank_source_type"],
                "preferred_id": c["value_publication_id"] if is_value else c["rank_publication_id"]}
        for side in ("a", "b"):
            fact["sources"][c[f"publication_{side}"]] = {
                "figure": _figure(c[f"value_{side}"] if is_value else c[f"rank_{side}"]),
                "url": c[f"source_url_{side}"], "type": c[f"source_type_{side}"]}
    rows = []
    for fact in facts.values():
        fact["sources"] = [dict(s, preferred=pub == fact["preferred_id"]) for pub, s in sorted(
            fact["sources"].items(), key=lambda item: (item[0] != fact["preferred_id"], item[1]["figure"], item[0]))]
        rows.append(fact)
    site.write("conflicts.html", "conflicts.html", title="Conflicts", charts=False, rows=rows)


def _write_downloads(site: Site, con) -> None:
    """downloads.html: every mart with its description and row count, linked to its CSV and Parquet
    files in the exports folder beside the site (relative links: they work from disk and served)."""
    from .exports import XLSX_NAME, exports_dir
    from .publish import quote_ident

    tables = _rows(con, "select table_name as name, coalesce(comment, '') as description from duckdb_tables() "
                        "where schema_name = 'marts' order by table_name")
    for t in tables:
        t["rows"] = con.execute(f"select count(*) from marts.{quote_ident(t['name'])}").fetchone()[0]
    exports = exports_dir(site.settings)
    stamp = exports / "datapackage.json"
    exported_at = (datetime.fromtimestamp(stamp.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
                   if stamp.exists() else None)
    # <data>/site and <data>/exports: "../exports/" (a site written elsewhere gets its own relative path)
    import os

    final = getattr(site, "final", site.out)
    exports_rel = Path(os.path.relpath(exports, final)).as_posix() + "/"
    site.write("downloads.html", "downloads.html", title="Downloads", tables=tables, workbook=XLSX_NAME,
               exports_rel=exports_rel, exported_at=exported_at)


def _write_changes(site: Site, settings: Settings) -> None:
    """What each publish changed (ingest/changes.py): the latest publish's rows and every publish's counts."""
    from .changes import counts_line, read
    from .publish import records

    publishes = [{"at": r["at"], "line": counts_line(r.get("changes"))}
                 for r in records(settings) if r.get("action") == "publish"][::-1]
    _header, rows = read(settings)
    shown = [{"change": r[2].replace("_", " "), "indicator": SHORT.get(r[5], r[5]), "level": r[6], "year": r[7],
              "unit_name": r[9] or r[8], "component": r[10],
              "unit_page": _unit_page(r[6], r[8]) if r[8] and r[6] in ("province", "ministry") else None,
              "old": r[11], "new": r[12], "old_rank": r[13], "new_rank": r[14], "old_source": r[15],
              "new_source": r[16], "old_url": r[17], "new_url": r[18]} for r in rows[:2000]]
    site.write("changes.html", "changes.html", title="What changed", charts=False, publishes=publishes[:30],
               rows=shown, more=max(0, len(rows) - len(shown)), latest=publishes[0] if publishes else None)


def _write_today(site: Site, con) -> None:
    """PCI and PAPI regrouped onto today's 34 provinces (marts.mart_scores_current_provinces), with a
    map of the 34 units: NOT an official ranking, and every page element says so."""
    tables = []
    names = dict(con.execute("select province_key, province_name from marts.dim_province").fetchall())
    for ind in ("pci", "papi"):
        latest = con.execute("""select max(year) from marts.mart_scores_current_provinces
            where indicator_code = ? and component_code = 'overall' and unofficial_rank is not null""",
                             [ind]).fetchone()[0]
        if latest is None:
            continue
        rows = _rows(con, """select m.current_province_key as unit_key, m.current_province_name as unit_name,
                m.mean_value as score, m.unofficial_rank as rank, m.min_value, m.max_value, m.provinces_with_figure,
                m.province_keys, d.province_code as map_key
            from marts.mart_scores_current_provinces m
            join marts.dim_province d on d.province_key = m.current_province_key
            where m.indicator_code = ? and m.component_code = 'overall' and m.year = ? order by m.unofficial_rank""",
                     [ind, latest])
        for r in rows:  # the provinces of that year by name (and page), not by GSO code
            r["members"] = [{"name": names.get(k, k), "page": _unit_page("province", k)}
                            for k in (r["province_keys"] or "").split(",") if k]
        spec = ranking_map([{**r, "unit_key": r["map_key"], "rank": None} for r in rows], None,
                           set(map_asset()["units"]["34"]))
        spec["set"] = "34"
        tables.append({"indicator": SHORT.get(ind, ind), "year": latest, "rows": rows, "map_spec": _json(spec),
                       "map_info": spec, "id": f"today-{ind}"})
    site.write("today.html", "today.html", title="Today's 34 provinces", charts=False, maps=bool(tables),
               tables=tables, attribution=map_asset()["attribution"])
