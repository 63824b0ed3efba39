"""The sub-indicator crosswalk's review: a new edition's questions go to a person, never silently
mapped.

A parser maps each indicator column's header to a stable code through
dbt_project/seeds/subindicator_crosswalk.csv. In a year the crosswalk does not list yet, a header
identical (folded) to an earlier year's under the same parent keeps its code; any other stops the
parse with one line naming them (errors.UnknownColumnsError). Then:

    govwh crosswalk review vcci-pci-2020 [--file PATH] [--out review.csv]
        lists each unknown header with the nearest existing ones and their scores (rapidfuzz,
        0-100 on the folded text) and writes a review file with a `decision` column;
    govwh crosswalk apply vcci-pci-2020 review.csv [--file PATH]
        reads each decision (`accept`: the first candidate's code; a code; `new`: a code of its own)
        and writes the year's rows into the two seeds (every indicator column of the year, the
        identical headers too), so that the next parse maps every column.

The review file is only read for its decisions, keyed by sheet and column: the headers written into
the seeds are read again from the publisher's file, so an edited or hostile review file cannot put
text into the seeds.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from . import catalogue, safetext
from .config import Settings, originals_dir
from .errors import PipelineError, UnknownColumnsError
from .exports import neutralise
from .landing import sha256_file
from .names import fold
from .parsers import guards
from .parsers.guards import UNIT_BOUNDS

CROSSWALK = "subindicator_crosswalk.csv"
ITEMS = "subindicators.csv"

ITEM_FIELDS = ["indicator", "subindicator_code", "parent_code", "name_en", "unit_of_measure", "unit_basis",
               "direction", "first_year", "last_year"]
CROSSWALK_FIELDS = ["indicator", "year", "sheet", "column_header", "occurrence", "subindicator_code"]

REVIEW_FIELDS = ["sheet", "column", "occurrence", "parent_code", "column_header", "unit_of_measure", "unit_basis",
                 "candidate_1", "score_1", "header_1", "candidate_2", "score_2", "header_2",
                 "candidate_3", "score_3", "header_3", "decision"]
# The code prefix of each PCI sub-index (the PAPI dimensions use their own 'dN').
PCI_PREFIX = {
    "entry_costs": "ec", "land_access": "la", "transparency": "tr", "time_costs": "tc", "informal_charges": "ic",
    "equal_competition": "pb", "proactivity": "pr", "business_support": "bs", "labor_training": "lt",
    "legal_institutions": "lo",
}
MAX_REVIEW_BYTES = 5 * 1024 * 1024


_CODE_ONLY = re.compile(r"\(mean\) ?([A-Za-z]\d{2,4}[A-Za-z]?)")


def item_name(header: str) -> str:
    """The name a survey item is listed under (dim_subindicator.name_en): its header, except where a
    publisher's file heads the column with nothing but a questionnaire variable ("(mean) a001" in
    UNDP's PAPI 2019 indicators): then the name says so, rather than passing a variable off as a
    question. The header itself stays in the crosswalk, which is what parsers match."""
    text = " ".join(header.split())
    code = _CODE_ONLY.fullmatch(text)
    return f"Questionnaire item {code.group(1)} (a mean; the publisher's file names it by its code only)" \
        if code else text


class CrosswalkError(PipelineError):
    pass


def unit_of(header: str, values: list[float]) -> tuple[str, str]:
    """A survey indicator's unit of measure, read from its header ('(%)', 'days', '1=...; 5=...',
    'Number of') or, where the header says nothing, from its values; and which of the two said so."""
    h = header.lower()
    top = max(values) if values else 0.0
    if values and min(values) < 0:  # a net change ("safety got better minus worse"), whatever the header says
        return "other", "values"
    if ("1=" in h and "5=" in h) or "5 pt scale" in h or "(5 điểm)" in h:
        return "rating_1_5", "header"
    if "hours" in h:
        return "hours", "header"
    if "days" in h:
        return "days", "header"
    if "number of" in h:
        return "count", "header"
    if "%" in h or "percentage" in h or "proportion" in h or "share" in h:
        return ("share_0_1" if top <= 1.0 else "percent_0_100"), "header"
    if values and min(values) >= 0 and top <= 1.0:
        return "share_0_1", "values"
    return ("score" if not values or min(values) >= 0 else "other"), "values"


def numbers(rows: list, c: int, units: int = 63) -> list[float]:
    """The figures of column c in the units' rows (the rows below the header)."""
    return [float(r[c]) for r in rows[1:1 + units]
            if c < len(r) and isinstance(r[c], (int, float)) and not isinstance(r[c], bool)]


def code_prefix(indicator: str, parent: str) -> str:
    return PCI_PREFIX[parent] if indicator == "pci" and parent in PCI_PREFIX else parent.split("_")[0]


# ------------------------------------------------------------------ what the parse sees
@dataclass(frozen=True)
class Column:
    sheet: str
    column: str  # letter
    header: str
    occurrence: int
    parent: str
    code: str  # the code it keeps ("" where unknown)
    unit: str = ""
    basis: str = ""
    candidates: tuple[tuple[str, float, str], ...] = ()  # (code, score, header)


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _file_of(pub, file: Path | None) -> Path:
    if file is not None:
        path = Path(file)
    else:
        path = originals_dir() / pub.original_relpath
    if not path.is_file():
        raise CrosswalkError(f"{path}: no such file, the original of {pub.id} (give it with --file)")
    return path


def _publication(pub_id: str, settings: Settings):
    pubs = {p.id: p for p in catalogue.declared(settings.catalogue_dir)}
    pub = pubs.get(pub_id)
    if pub is None:
        raise CrosswalkError(f"{pub_id!r} is not a declared publisher file (declared: "
                             f"{', '.join(p for p in pubs if p.startswith(pub_id.split('-')[0])) or 'none'})")
    if pub.parser not in ("vcci_pci_en", "undp_papi_2019", "undp_papi_full"):
        raise CrosswalkError(f"{pub_id}: its parser ({pub.parser}) reads no sub-indicator columns")
    return pub


def columns(pub, path: Path, seeds_dir: Path) -> list[Column]:
    """Every indicator column of the file as the parse maps it: known ones with the code they keep,
    unknown ones with their three nearest existing headers."""
    from .parsers import ParseContext, parse

    ctx = ParseContext(path=path, label=f"{pub.id} ({path.name})", source_sha256=sha256_file(path),
                       source_file=path.name, seeds_dir=seeds_dir, review=True)
    try:
        parse(pub.parser, pub, ctx)
    except UnknownColumnsError as exc:
        found = exc
    else:  # every column is listed for that year already: nothing to review
        return []
    values = _column_values(pub, path, {(s, c) for s, c, *_ in found.columns}, pub.units_in(pub.year))
    existing = [(d["subindicator_code"], d["column_header"]) for d in _read_csv(seeds_dir / CROSSWALK)
                if d["indicator"] == pub.indicator]
    folded: dict[str, tuple[str, str]] = {}  # folded header -> (code, header as printed)
    for code, header in existing:
        folded.setdefault(fold(header), (code, header))
    out = [Column(s, c, h, n, p, code) for s, c, h, n, p, code in found.carried]
    for s, c, h, n, p, _ in found.columns:
        unit, basis = unit_of(h, values.get((s, c), []))
        scored: dict[str, tuple[float, str]] = {}
        key = fold(h)
        for f, (code, header) in folded.items():
            score = fuzz.token_sort_ratio(key, f)
            if score > scored.get(code, (-1.0, ""))[0]:
                scored[code] = (score, header)
        best = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[0]))[:3]
        out.append(Column(s, c, h, n, p, "", unit, basis, tuple((code, round(sc, 1), hd) for code, (sc, hd) in best)))
    return out


def _column_values(pub, path: Path, wanted: set[tuple[str, str]], units: int) -> dict[tuple[str, str], list[float]]:
    import openpyxl

    from .excel import col_letter

    out: dict[tuple[str, str], list[float]] = {}
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in sorted({s for s, _ in wanted}):
            rows = [list(r) for r in book[sheet].iter_rows(values_only=True)]
            for c in range(len(rows[0]) if rows else 0):
                if (sheet, col_letter(c)) in wanted:
                    out[(sheet, col_letter(c))] = numbers(rows, c, units)
    finally:
        book.close()
    return out


# ------------------------------------------------------------------ govwh crosswalk review
def review(pub_id: str, settings: Settings, file: Path | None = None, out: Path | None = None) -> tuple[str, Path | None]:
    """The report printed for a person, and the review file written (None when nothing is unknown)."""
    pub = _publication(pub_id, settings)
    path = _file_of(pub, file)
    cols = columns(pub, path, settings.seeds_dir)
    unknown = [c for c in cols if not c.code]
    carried = [c for c in cols if c.code]
    show = safetext.escape
    lines = [f"{pub.id} ({show(path.name)}), {pub.indicator} {pub.year}: "
             f"{len(unknown)} indicator column{'s' if len(unknown) != 1 else ''} the crosswalk does not know; "
             f"{len(carried)} have codes (listed for {pub.year}, or identical to an earlier year's header)"]
    if not cols:
        lines[0] = f"{pub.id} ({show(path.name)}): every indicator column is in the crosswalk for {pub.year}"
        return "\n".join(lines), None
    for c in unknown:
        lines.append(f"  {show(c.sheet)}!{c.column} {show(c.header)!r} under {c.parent} "
                     f"(unit {c.unit}, from the {c.basis})")
        for code, score, header in c.candidates:
            lines.append(f"      {score:5.1f}  {code:<14} {show(header)!r}")
        if not c.candidates:
            lines.append("      no existing header")
    out = Path(out) if out else settings.data_dir / "crosswalk" / f"review-{pub.id}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, REVIEW_FIELDS, lineterminator="\n")
        w.writeheader()
        for c in unknown:
            row = {"sheet": c.sheet, "column": c.column, "occurrence": c.occurrence, "parent_code": c.parent,
                   "column_header": c.header, "unit_of_measure": c.unit, "unit_basis": c.basis, "decision": ""}
            for i, (code, score, header) in enumerate(c.candidates, 1):
                row |= {f"candidate_{i}": code, f"score_{i}": f"{score:.1f}", f"header_{i}": header}
            # a spreadsheet must show text, never run it: cells are neutralised as every export's are
            w.writerow({k: neutralise(v) for k, v in row.items()})
    tmp.replace(out)
    lines.append(f"Review file: {out}")
    lines.append("Set `decision` on each line: `accept` (the first candidate's code), another existing code, "
                 f"or `new` (a code of its own); then: govwh crosswalk apply {pub.id} {out}")
    return "\n".join(lines), out


# ------------------------------------------------------------------ govwh crosswalk apply
DECISION = re.compile(r"accept|new|[a-z][a-z0-9_]{1,39}")


def apply(pub_id: str, review_file: Path, settings: Settings, file: Path | None = None) -> str:
    """Write the year's rows into the seeds (the two files replaced whole, atomically)."""
    pub = _publication(pub_id, settings)
    path = _file_of(pub, file)
    review_file = Path(review_file)
    if not review_file.is_file() or review_file.stat().st_size > MAX_REVIEW_BYTES:
        raise CrosswalkError(f"{review_file}: not a review file (a regular file up to 5 MiB)")
    try:
        with open(review_file, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"sheet", "column", "decision"} <= set(reader.fieldnames):
                raise CrosswalkError(f"{review_file}, line 1: expected the columns sheet, column and decision")
            decisions = {}
            for row in reader:
                key = (row.get("sheet") or "").lstrip("'"), (row.get("column") or "")
                decisions[key] = ((row.get("decision") or "").strip(), reader.line_num)
    except UnicodeDecodeError as exc:
        raise CrosswalkError(f"{review_file}: not UTF-8 at byte {exc.start:,}") from exc
    seeds = settings.seeds_dir
    items = _read_csv(seeds / ITEMS)
    known = {(d["indicator"], d["subindicator_code"]): d for d in items}
    cols = columns(pub, path, seeds)
    if not cols:
        return f"{pub.id}: every indicator column is in the crosswalk for {pub.year}; nothing to apply"
    rows: list[dict] = []
    new_items: list[dict] = []
    counters: dict[str, int] = {}
    for d in items:
        if d["indicator"] == pub.indicator:
            m = re.fullmatch(rf"{pub.indicator}_([a-z0-9]+)_(\d+)", d["subindicator_code"])
            if m:
                counters[d["parent_code"]] = max(counters.get(d["parent_code"], 0), int(m.group(2)))
    accepted = new = 0
    for c in cols:
        code = c.code
        if not code:
            decision, line = decisions.get((c.sheet, c.column), ("", 0))
            where = f"{review_file}, line {line}" if line else str(review_file)
            if not decision:
                raise CrosswalkError(f"{where}: no decision for {c.sheet}!{c.column} {c.header[:80]!r} "
                                     "(accept, an existing code, or new)")
            if not DECISION.fullmatch(decision):
                raise CrosswalkError(f"{where}: decision {decision[:40]!r} is not accept, new or a code")
            if decision == "new":
                n = counters[c.parent] = counters.get(c.parent, 0) + 1
                code = f"{pub.indicator}_{code_prefix(pub.indicator, c.parent)}_{n:02d}"
                if c.unit not in UNIT_BOUNDS:
                    raise CrosswalkError(f"{where}: unit {c.unit!r} is not one of {sorted(UNIT_BOUNDS)}")
                item = {"indicator": pub.indicator, "subindicator_code": code, "parent_code": c.parent,
                        "name_en": item_name(c.header), "unit_of_measure": c.unit, "unit_basis": c.basis,
                        "direction": "", "first_year": str(pub.year), "last_year": str(pub.year)}
                known[(pub.indicator, code)] = item
                new_items.append(item)
                new += 1
            else:
                code = c.candidates[0][0] if decision == "accept" and c.candidates else decision
                if decision == "accept" and not c.candidates:
                    raise CrosswalkError(f"{where}: accept, but {c.sheet}!{c.column} has no candidate; use new")
                target = known.get((pub.indicator, code))
                if target is None:
                    raise CrosswalkError(f"{where}: {code!r} is not a code of {pub.indicator} in {ITEMS}")
                if target["parent_code"] != c.parent:
                    raise CrosswalkError(f"{where}: {code} belongs to {target['parent_code']}, not {c.parent}")
                accepted += 1
        rows.append({"indicator": pub.indicator, "year": pub.year, "sheet": c.sheet, "column_header": c.header.strip(),
                     "occurrence": c.occurrence, "subindicator_code": code})
    for r in rows:  # the years each code spans
        d = known[(pub.indicator, r["subindicator_code"])]
        d["first_year"] = str(min(int(d["first_year"]), pub.year))
        d["last_year"] = str(max(int(d["last_year"]), pub.year))
    crosswalk = [d for d in _read_csv(seeds / CROSSWALK)
                 if not (d["indicator"] == pub.indicator and int(d["year"]) == pub.year)] + rows
    _write(seeds / ITEMS, ITEM_FIELDS, sorted(items + new_items, key=lambda d: (d["indicator"], d["subindicator_code"])))
    _write(seeds / CROSSWALK, CROSSWALK_FIELDS, crosswalk)
    guards.subindicators.cache_clear()  # the next parse in this process reads the new seeds
    guards._crosswalk_rows.cache_clear()
    return (f"{pub.id}: {len(rows)} crosswalk rows for {pub.indicator} {pub.year} written to {seeds / CROSSWALK} "
            f"({len(rows) - accepted - new} known, {accepted} accepted, {new} new codes); "
            "review the diff, then `make bundle` and `make run`")


def _write(path: Path, fields: list[str], rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
