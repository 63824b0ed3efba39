"""Curated intake files: figures that exist only on web pages and images, transcribed by hand.

One CSV file per source page (data/curated/*.csv). Provenance comes first as '# key: value'
lines (publication, title, publisher, source_url, source_type, date_read, transcriber_note, and
decimal_mark: '.' by default, ',' where the page prints "64,16"), then the rows: indicator, level, year, unit (as published), score, rank, component, flags, note.
A unit written in parentheses, or "Trung bình", is a published aggregate ("(average of 17
ministries)"), kept as such. Validation: unknown unit or component, score outside the
indicator's range, duplicate rows, ranks that contradict the scores, a rank larger than the
number of units ranked that year, a score in the other decimal mark than the file declares. A
rank printed "01" is 1. A component matches by its code, its English or Vietnamese name in
components.csv, or an alias in component_aliases.csv. Any one of them fails the whole file with
its line number.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, fields
from datetime import date
from functools import lru_cache
from pathlib import Path

from .. import names
from ..declarations import MAX_CELL, read_header, read_text  # noqa: F401 - the page's declaration
from ..errors import LayoutError, UnknownUnitError
from . import ParseContext, ParseResult

COLUMNS = ["indicator", "level", "year", "unit", "score", "rank", "component", "flags", "note"]
NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")  # after the file's decimal mark is read as a point
RANK = re.compile(r"[0-9]{1,6}")
LEVELS = ("province", "ministry", "district", "department")
FLAGS = ("word-rank", "order-of-listing", "derived", "conflict", "low-reliability")
# Indicator labels as transcribers write them (folded) -> indicator code.
INDICATORS = {
    "parindex": "par_index",
    "sipas": "sipas",
    "pci": "pci",
    "papi": "papi",
    "ddciquangninh": "ddci_quang_ninh",
    "parindexprovincialinternalquangnam": "par_index_quang_nam_internal",
}
AGGREGATE_NAMES = {"trungbinh"}  # "Trung bình": the average row of a published table
FIRST_YEAR = 2000


@dataclass(frozen=True)
class CuratedRow:
    publication_id: str
    indicator: str
    indicator_as_published: str
    level: str
    year: int
    unit_name: str
    unit_key: str | None
    row_kind: str  # unit | aggregate
    aggregate_kind: str | None  # mean | median | regional_mean
    aggregate_scope: str | None
    aggregate_units: int | None
    component_code: str
    component_name: str
    value: float | None
    value_text: str | None
    value_decimals: int | None
    rank: int | None
    flag_word_rank: bool
    flag_order_of_listing: bool
    flag_derived: bool
    flag_conflict: bool
    flag_low_reliability: bool
    note: str | None
    publisher: str
    source_url: str
    source_type: str
    date_read: str
    source_file: str
    source_sha256: str
    line: int


CURATED_COLUMNS = [f.name for f in fields(CuratedRow)]
CURATED_TYPES = {
    "year": "INTEGER", "aggregate_units": "INTEGER", "value": "DOUBLE", "value_decimals": "INTEGER",
    "rank": "INTEGER", "line": "INTEGER", **{f"flag_{f.replace('-', '_')}": "BOOLEAN" for f in FLAGS},
}


def _read_seed(seeds_dir: Path, name: str) -> list[dict]:
    with open(Path(seeds_dir) / name, encoding="utf-8") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=4)
def component_lookup(seeds_dir: Path) -> dict[tuple[str, str], str]:
    """(indicator, folded label) -> component code. A component is known by its own code and by
    its English and Vietnamese names (seeds/components.csv) without an alias row; aliases
    (seeds/component_aliases.csv) add the other ways pages print it. A name two components of one
    indicator share is no key (an alias must say which)."""
    rows = _read_seed(seeds_dir, "components.csv")
    named: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        for label in (r["name_en"], r["name_vi"]):
            if label.strip():
                named.setdefault((r["indicator"], names.fold(label)), set()).add(r["component_code"])
    out = {key: codes.pop() for key, codes in named.items() if len(codes) == 1}
    out.update({(r["indicator"], names.fold(r["component_code"])): r["component_code"] for r in rows})
    out.update({(r["indicator"], names.fold(r["alias"])): r["component_code"]
                for r in _read_seed(seeds_dir, "component_aliases.csv")})
    return out


@lru_cache(maxsize=4)
def component_scales(seeds_dir: Path) -> dict[tuple[str, str], tuple[float, float]]:
    return {(r["indicator"], r["component_code"]): (float(r["scale_min"]), float(r["scale_max"]))
            for r in _read_seed(seeds_dir, "components.csv")}


@lru_cache(maxsize=4)
def ranked_units(seeds_dir: Path) -> dict[tuple[str, str, int], int]:
    out = {}
    for r in _read_seed(seeds_dir, "ranked_units.csv"):
        for year in range(int(r["year_from"]), int(r["year_to"]) + 1):
            out[(r["indicator"], r["level"], year)] = int(r["units_ranked"])
    return out


def _aggregate(unit: str) -> tuple[str, str | None, int | None] | None:
    key = names.fold(unit)
    if not unit.startswith("(") and key not in AGGREGATE_NAMES:
        return None
    inside, _, after = unit.partition(")")
    scope = after.strip() or None
    n = re.search(r"of (\d+)", inside)
    if "median" in inside:
        kind = "median"
    elif "region" in inside:
        kind = "regional_mean"
    else:
        kind = "mean"
    return kind, scope, int(n.group(1)) if n else None


def parse(pub, ctx: ParseContext) -> ParseResult:
    label = ctx.label
    text = read_text(ctx.path, label)
    header, offset = read_header(text, label)
    if header["publication"] != pub.id:
        raise LayoutError(label, f"file says publication {header['publication']!r}, catalogue expects {pub.id!r}")
    reader = csv.reader(io.StringIO(text))
    for _ in range(offset):
        next(reader)
    columns = next(reader, None)
    if columns != COLUMNS:
        raise LayoutError(label, f"columns {columns} differ from the curated format {COLUMNS}", row=offset + 1)

    out: list[CuratedRow] = []
    seen: dict[tuple, int] = {}
    line_no = offset + 1
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:  # e.g. a cell over csv's 131,072-character limit
            raise LayoutError(label, f"unreadable CSV ({exc})", row=reader.line_num) from None
        if cells is None:
            break
        line_no = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(COLUMNS):
            raise LayoutError(label, f"{len(cells)} cells, expected {len(COLUMNS)}", row=line_no)
        long = next((c for c in cells if len(c) > MAX_CELL), None)
        if long is not None:
            raise LayoutError(label, f"a cell of {len(long):,} characters, over the {MAX_CELL:,}-character limit",
                              row=line_no)
        row = dict(zip(COLUMNS, (c.strip() for c in cells)))
        out.append(_row(pub, ctx, header, row, line_no))
        r = out[-1]
        key = (r.indicator, r.level, r.year, r.unit_key or r.unit_name, r.component_code)
        if key in seen:
            raise LayoutError(label, f"duplicate row: {r.unit_name!r} {r.indicator} {r.component_code} {r.year} "
                                     f"is already on line {seen[key]}", row=line_no)
        seen[key] = line_no
    if not out:
        raise LayoutError(label, "no rows")
    _check_ranks(out, label)
    return ParseResult(out, columns=CURATED_COLUMNS, types=CURATED_TYPES)


def _row(pub, ctx, header, row, line_no) -> CuratedRow:
    label = ctx.label

    def fail(cause):
        raise LayoutError(label, cause, row=line_no)

    indicator = INDICATORS.get(names.fold(row["indicator"])) or (
        row["indicator"] if row["indicator"] in INDICATORS.values() else None)
    if indicator is None:
        fail(f"unknown indicator {row['indicator']!r} (known: {sorted(INDICATORS.values())})")
    if row["level"] not in LEVELS:
        fail(f"unknown level {row['level']!r} (known: {list(LEVELS)})")
    this_year = date.today().year
    if not row["year"].isdigit() or not FIRST_YEAR <= int(row["year"]) <= this_year:
        fail(f"year {row['year']!r} is not a year from {FIRST_YEAR} to {this_year}")
    year = int(row["year"])
    component_code = "overall"
    if row["component"]:
        component_code = component_lookup(ctx.seeds_dir).get((indicator, names.fold(row["component"])))
        if component_code is None:
            known = sorted(c for (i, c) in component_scales(ctx.seeds_dir) if i == indicator)
            fail(f"unknown {indicator} component {row['component']!r} (codes: {known}; aliases in "
                 f"dbt_project/seeds/component_aliases.csv)")
    value = decimals = None
    if row["score"]:
        mark = header.get("decimal_mark", ".")  # declared per file, never guessed per cell
        other = "," if mark == "." else "."
        if other in row["score"]:
            fail(f"score {row['score']!r} has a {'comma' if other == ',' else 'point'}, but the file declares "
                 f"decimal_mark {mark!r} (a page printing 64,16 declares '# decimal_mark: ,' in its header)")
        number = row["score"].replace(mark, ".")
        if not NUMBER.fullmatch(number):
            fail(f"score {row['score']!r} is not a number (digits, with {mark!r} before the decimals)")
        value = float(number)
        decimals = len(number.partition(".")[2])
        low, high = component_scales(ctx.seeds_dir)[(indicator, component_code)]
        if not low <= value <= high:
            fail(f"score {value} for {row['unit']!r} is outside the {indicator} {component_code} range [{low}, {high}]")
    rank = None
    if row["rank"]:
        if not RANK.fullmatch(row["rank"]) or int(row["rank"]) < 1:  # "01" is 1
            fail(f"rank {row['rank']!r} is not a positive whole number")
        rank = int(row["rank"])
        n = ranked_units(ctx.seeds_dir).get((indicator, row["level"], year))
        if n is not None and rank > n:
            fail(f"rank {rank} of {row['unit']!r} is larger than the {n} units ranked in {indicator} "
                 f"{row['level']} {year}")
    flag_set = {f for f in row["flags"].split(";") if f}
    if flag_set - set(FLAGS):
        fail(f"unknown flags {sorted(flag_set - set(FLAGS))} (known: {list(FLAGS)})")
    aggregate = _aggregate(row["unit"])
    unit_key = None
    if aggregate is None:
        registry = names.registry(row["level"], ctx.seeds_dir)
        unit_key = registry.lookup(row["unit"], year)
        if unit_key is None:
            raise UnknownUnitError(label, row["unit"], registry.candidates(row["unit"], year), row=line_no, year=year)
    return CuratedRow(
        publication_id=pub.id, indicator=indicator, indicator_as_published=row["indicator"], level=row["level"],
        year=year, unit_name=row["unit"], unit_key=unit_key, row_kind="unit" if aggregate is None else "aggregate",
        aggregate_kind=aggregate[0] if aggregate else None, aggregate_scope=aggregate[1] if aggregate else None,
        aggregate_units=aggregate[2] if aggregate else None, component_code=component_code,
        component_name=row["component"], value=value, value_text=row["score"] or None, value_decimals=decimals,
        rank=rank, flag_word_rank="word-rank" in flag_set, flag_order_of_listing="order-of-listing" in flag_set,
        flag_derived="derived" in flag_set, flag_conflict="conflict" in flag_set,
        flag_low_reliability="low-reliability" in flag_set, note=row["note"] or None,
        publisher=header["publisher"], source_url=header["source_url"], source_type=header["source_type"],
        date_read=header["date_read"], source_file=ctx.source_file, source_sha256=ctx.source_sha256, line=line_no,
    )


def _check_ranks(rows: list[CuratedRow], label: str) -> None:
    """Within one source, a better rank never goes with a lower score (beyond rounding)."""
    groups: dict[tuple, list[CuratedRow]] = {}
    for r in rows:
        if r.row_kind == "unit" and r.rank is not None and r.value is not None:
            groups.setdefault((r.indicator, r.level, r.year, r.component_code), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: r.rank)
        for better, worse in zip(group, group[1:]):
            tolerance = 0.5 * 10 ** -min(better.value_decimals or 0, worse.value_decimals or 0)
            if worse.rank > better.rank and worse.value > better.value + tolerance:
                raise LayoutError(label, f"rank {worse.rank} ({worse.unit_name}, {worse.value}) scores above rank "
                                         f"{better.rank} ({better.unit_name}, {better.value}) on line {better.line}",
                                  row=worse.line)
