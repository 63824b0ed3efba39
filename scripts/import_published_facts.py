"""Split ../shared/sources/transcribed/published_facts.csv into curated intake files, one per
source page, under data/curated/. Each file carries its provenance in '# key: value' lines.

Run once (done; the files are committed). Re-running rewrites the files from the CSV.

    python scripts/import_published_facts.py [--facts PATH] [--out DIR]
    python scripts/import_published_facts.py --merge --facts ../shared/sources/transcribed/published_facts_2.csv

--merge adds a later transcription without touching what is there: a page not seen before gets a
file of its own; a page that has a file already gets the rows it does not hold yet (a row already
there, the same figure within rounding, is not repeated). Numbers are written as printed: a page
that prints every decimal with a comma declares '# decimal_mark: ,'; a page that prints both
(a table with points, text with commas), or a page appended to a file written with points, has
its commas written as points, which its transcriber_note says. Levels the warehouse holds as
published aggregates of the provinces: a socio-economic region's average ('region') becomes
'(regional average) <region>', the national figure ('national') '(national average)', each with
its printed name in the note.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent

# How much a page is trusted, by its host. The preference rule in dbt orders by this.
PUBLISHER_HOSTS = {"pcivietnam.vn", "www.pcivietnam.vn", "papi.org.vn"}
PUBLISHER_REPORT_HOSTS = {"fliphtml5.com"}  # the UNDP PAPI report as a flipbook
SECONDARY_HOSTS = {"huggingface.co", "ufabetindo.in", "gaidepnguckhung.blogspot.com", "m.tothethao.com"}
GOVERNMENT_SUFFIXES = (".gov.vn", "chinhphu.vn")
GOVERNMENT_HOSTS = {"news.gov.vn", "nvsk.vnanet.vn"}

FLAG_PATTERNS = [  # note wording -> flag, as documented in ../shared/sources/README.md
    ("word-rank", re.compile(r"word-rank|rank inferred", re.I)),
    ("order-of-listing", re.compile(r"order of listing|'followed by' order|listed \d", re.I)),
    ("derived", re.compile(r"\bDERIVED\b")),
    ("conflict", re.compile(r"\bCONFLICT")),
    ("low-reliability", re.compile(r"LOW RELIABILITY|spam domain|may be city survey|ambiguous", re.I)),
]
COLUMNS = ["indicator", "level", "year", "unit", "score", "rank", "component", "flags", "note"]


def source_type(host: str) -> str:
    if host in PUBLISHER_HOSTS:
        return "publisher_site"
    if host in PUBLISHER_REPORT_HOSTS:
        return "publisher_report"
    if host in SECONDARY_HOSTS:
        return "secondary"
    if host in GOVERNMENT_HOSTS or host.endswith(GOVERNMENT_SUFFIXES):
        return "government_portal"
    return "news"


def flags(note: str) -> str:
    return ";".join(name for name, pattern in FLAG_PATTERNS if pattern.search(note))


def _agree(a: str, b: str) -> bool:
    """Two printed scores agree when they are equal after rounding to the coarser precision."""
    if not a or not b:
        return a == b
    digits = min(len(a.partition(".")[2]), len(b.partition(".")[2]))
    return abs(float(a) - float(b)) <= 0.5 * 10 ** -digits + 1e-9


def merge_repeats(items: list[dict]) -> list[dict]:
    """The same figure for the same unit printed twice on one page (a name also given in another
    script, a table value and the same value in the text at more decimals) is one observation:
    keep the more precise printing and note the other."""
    from ingest import names

    out: list[dict] = []
    index: dict[tuple, dict] = {}
    for r in items:
        unit = names.registry(r["level"]).lookup(r["unit_name_as_published"], int(r["year"])) \
            if r["level"] in ("province", "ministry") else None
        key = (r["indicator"], r["level"], r["year"], unit or r["unit_name_as_published"], r["component"], r["rank"])
        first = index.get(key) if unit else None
        if first is not None and _agree(first["score"], r["score"]):
            def printing(x):
                return f"{x['score'] or 'no score'} as {x['unit_name_as_published']!r}" + (f" ({x['note']})" if x["note"] else "")

            first["note"] = f"printed twice on this page: {printing(first)}; {printing(r)}"
            if len(r["score"].partition(".")[2]) > len(first["score"].partition(".")[2]):
                first["score"] = r["score"]  # keep the more precise printing
            continue
        index[key] = dict(r)
        out.append(index[key])
    return out


def slug(url: str) -> str:
    host = (urlparse(url).hostname or "unknown").removeprefix("www.")
    return f"{re.sub(r'[^a-z0-9]+', '-', host.lower()).strip('-')}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


def _write_page(path: Path, url: str, items: list[dict], read_before: str, note: str,
                decimal_comma: bool = False) -> None:
    """One curated file: the page's provenance lines, then its rows."""
    host = urlparse(url).hostname or ""
    years = sorted({r["year"] for r in items})
    indicators = sorted({r["indicator"] for r in items})
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(f"# publication: curated-{slug(url)}\n")
        f.write(f"# title: {', '.join(indicators)} {', '.join(years)} figures as printed on {host}\n")
        f.write(f"# publisher: {host}\n")
        f.write(f"# source_url: {url}\n")
        f.write(f"# source_type: {source_type(host)}\n")
        f.write(f"# date_read: not recorded (read before {read_before}; see shared/sources/README.md)\n")
        if decimal_comma:
            f.write("# decimal_mark: ,\n")
        f.write(f"# transcriber_note: {note}\n")
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in items:
            writer.writerow(_row_cells(r))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--facts", type=Path,
                        default=REPO.parent / "shared" / "sources" / "transcribed" / "published_facts.csv")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "curated")
    parser.add_argument("--merge", action="store_true", help="add the file's pages and rows to what --out holds")
    args = parser.parse_args()
    if args.merge:
        merge(args.facts, args.out)
        return
    with open(args.facts, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_url: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_url[row["source_url"]].append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    for url, items in sorted(by_url.items()):
        _write_page(args.out / f"{slug(url)}.csv", url, merge_repeats(items), "2026-11",
                    "transcribed by hand into shared/sources/transcribed/published_facts.csv; "
                    "split per source page by scripts/import_published_facts.py")
    written = sum(len(merge_repeats(items)) for items in by_url.values())
    print(f"wrote {len(by_url)} curated files ({written} rows from {len(rows)} transcribed) to {args.out}")


SEPARATED = re.compile(r"[0-9]+([.,])[0-9]+")


def _as_province_aggregate(r: dict) -> dict:
    """A region's or the nation's figure: a published aggregate of the province table."""
    r = dict(r)
    printed = r["unit_name_as_published"]
    if r["level"] == "region":
        r["unit_name_as_published"] = f"(regional average) {printed}"
    elif r["level"] == "national":
        r["unit_name_as_published"] = "(national average)"
    else:
        return r
    r["note"] = "; ".join(x for x in (f"printed as {printed!r} (level {r['level']})", r["note"]) if x)
    r["level"] = "province"
    return r


def _row_cells(r: dict) -> list[str]:
    return [r["indicator"], r["level"], r["year"], r["unit_name_as_published"], r["score"], r["rank"],
            r["component"], flags(r["note"]), r["note"]]


def merge(facts: Path, out: Path) -> None:
    from ingest import names
    from ingest.config import SEEDS_DIR
    from ingest.parsers import curated

    components = curated.component_lookup(SEEDS_DIR)

    with open(facts, encoding="utf-8", newline="") as f:
        rows = [_as_province_aggregate(r) for r in csv.DictReader(f)]
    by_url: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_url[row["source_url"]].append(row)
    new_files = appended = kept = 0
    for url, items in sorted(by_url.items()):
        path = out / f"{slug(url)}.csv"
        items = merge_repeats(items)
        marks = {m.group(1) for r in items for m in [SEPARATED.fullmatch(r["score"])] if m}
        if path.exists():
            text = path.read_text(encoding="utf-8")
            head = [ln for ln in text.splitlines() if ln.startswith("#")]
            held = list(csv.DictReader(ln for ln in text.splitlines() if not ln.startswith("#")))
            comma_file = any(ln.startswith("# decimal_mark: ,") for ln in head)
            mark = "," if comma_file else "."

            def key(x, unit_field):
                """The fact a row states: unit and component resolved as the parser resolves them."""
                unit = names.registry(x["level"]).lookup(x[unit_field], int(x["year"])) \
                    if x["level"] in ("province", "ministry") else None
                indicator = curated.INDICATORS.get(names.fold(x["indicator"]), x["indicator"])
                component = components.get((indicator, names.fold(x["component"])), x["component"]) \
                    if x["component"] else "overall"
                return (indicator, x["level"], x["year"], unit or x[unit_field], component)

            there = {key(h, "unit"): h for h in held}
            fresh = []
            for r in items:
                score = r["score"].replace(",", ".")
                h = there.get(key(r, "unit_name_as_published"))
                if h is not None and _agree(h["score"].replace(",", "."), score) and (
                        not r["rank"] or (h["rank"] and int(h["rank"]) == int(r["rank"]))):
                    kept += 1  # the same figure (and rank, where printed) on the same page
                    continue
                fresh.append(dict(r, score=score.replace(".", mark)))
            if not fresh:
                continue
            note = ("# transcriber_note: " + next(ln for ln in head if ln.startswith("# transcriber_note:"))
                    .partition(":")[2].strip() + "; more rows from shared/sources/transcribed/"
                    f"{facts.name} appended by scripts/import_published_facts.py --merge"
                    + ("; decimal commas written as points" if "," in marks and mark == "." else ""))
            head = [note if ln.startswith("# transcriber_note:") else ln for ln in head]
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write("\n".join(head) + "\n")
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(COLUMNS)
                for h in held:
                    writer.writerow([h[c] for c in COLUMNS])
                for r in fresh:
                    writer.writerow(_row_cells(r))
            appended += len(fresh)
            continue
        if len(marks) > 1:
            items = [dict(r, score=r["score"].replace(",", ".")) for r in items]
        _write_page(path, url, items, "2026-12",
                    f"transcribed by hand into shared/sources/transcribed/{facts.name}; split per source page by "
                    "scripts/import_published_facts.py --merge"
                    + ("; the page prints decimals with both a point and a comma: written as points"
                       if len(marks) > 1 else ""), decimal_comma=marks == {","})
        new_files += 1
        appended += len(items)
    print(f"{facts.name}: {new_files} new curated files, {appended} rows written, {kept} rows already held "
          f"(the same figure on the same page) -> {out}")


if __name__ == "__main__":
    main()
