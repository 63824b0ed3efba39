"""Split ../shared/sources/transcribed/published_facts.csv into curated intake files, one per
source page, under data/curated/. Each file carries its provenance in '# key: value' lines.

Run once (done; the files are committed). Re-running rewrites the files from the CSV.

    python scripts/import_published_facts.py [--facts PATH] [--out DIR]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--facts", type=Path,
                        default=REPO.parent / "shared" / "sources" / "transcribed" / "published_facts.csv")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "curated")
    args = parser.parse_args()
    with open(args.facts, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_url: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_url[row["source_url"]].append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    for url, items in sorted(by_url.items()):
        host = urlparse(url).hostname or ""
        years = sorted({r["year"] for r in items})
        indicators = sorted({r["indicator"] for r in items})
        path = args.out / f"{slug(url)}.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(f"# publication: curated-{slug(url)}\n")
            f.write(f"# title: {', '.join(indicators)} {', '.join(years)} figures as printed on {host}\n")
            f.write(f"# publisher: {host}\n")
            f.write(f"# source_url: {url}\n")
            f.write(f"# source_type: {source_type(host)}\n")
            f.write("# date_read: not recorded (read before 2026-11; see shared/sources/README.md)\n")
            f.write("# transcriber_note: transcribed by hand into shared/sources/transcribed/published_facts.csv; "
                    "split per source page by scripts/import_published_facts.py\n")
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(COLUMNS)
            for r in merge_repeats(items):
                writer.writerow([r["indicator"], r["level"], r["year"], r["unit_name_as_published"], r["score"],
                                 r["rank"], r["component"], flags(r["note"]), r["note"]])
    written = sum(len(merge_repeats(items)) for items in by_url.values())
    print(f"wrote {len(by_url)} curated files ({written} rows from {len(rows)} transcribed) to {args.out}")


if __name__ == "__main__":
    main()
