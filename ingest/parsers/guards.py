"""Checks shared by the parsers: unit counts, value ranges, ranks that agree with scores."""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..config import SEEDS_DIR
from ..errors import LayoutError, UnknownColumnsError
from ..excel import col_letter
from ..names import fold
from ..tidy import TidyRow


def check_units(rows: list[TidyRow], expected, label: str, component: str = "overall") -> None:
    """Each year's units with a `component` figure number `expected` (a count, or the year's count:
    a publication's units_in, as its family declares)."""
    per_year: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        if r.component_code == component and r.row_kind == "unit" and r.grain == "score":
            per_year[r.year].add(r.unit_code)
    for year, units in sorted(per_year.items()):
        want = expected(year) if callable(expected) else expected
        if len(units) != want:
            raise LayoutError(label, f"{year}: {len(units)} units with an {component!r} figure, "
                                     f"expected {want}")


def check_range(rows: list[TidyRow], label: str, bounds: dict[str, tuple[float, float]]) -> None:
    """bounds: component code (or '*' for any other) -> (low, high), inclusive."""
    for r in rows:
        if r.value is None:
            continue
        low, high = bounds.get(r.component_code, bounds["*"])
        if not (low <= r.value <= high):
            raise LayoutError(label, f"{r.component_code} = {r.value} for {r.unit_name!r} ({r.year}) "
                                     f"is outside [{low}, {high}] at cell {r.cell}", sheet=r.sheet)


def check_ranks(rows: list[TidyRow], label: str) -> None:
    """Published ranks run 1..N and never put a lower score above a higher one."""
    by_year: dict[int, list[TidyRow]] = defaultdict(list)
    for r in rows:
        if r.rank is not None:
            by_year[r.year].append(r)
    for year, ranked in by_year.items():
        n = len(ranked)
        ranked.sort(key=lambda r: (r.rank, -(r.value or 0)))
        for r in ranked:
            if not 1 <= r.rank <= n:
                raise LayoutError(label, f"{year}: rank {r.rank} of {r.unit_name!r} is outside 1..{n}",
                                  sheet=r.sheet)
        for a, b in zip(ranked, ranked[1:]):
            if a.value is not None and b.value is not None and b.value > a.value + 1e-9:
                raise LayoutError(label, f"{year}: rank {b.rank} ({b.unit_name}, {b.value}) scores above "
                                         f"rank {a.rank} ({a.unit_name}, {a.value})", sheet=b.sheet)


# ------------------------------------------------------------- sub-indicators
# Units of measure of the survey indicators below a sub-index or dimension, and the values each
# allows. 'score' and 'other' are the publisher's own constructed scales, bounded only below.
UNIT_BOUNDS = {
    "share_0_1": (0.0, 1.0),
    "percent_0_100": (0.0, 100.0),
    "rating_1_5": (1.0, 5.0),
    "days": (0.0, 3650.0),
    "hours": (0.0, 10000.0),
    "count": (0.0, 1e12),
    "score": (0.0, 1e12),
    "other": (float("-inf"), float("inf")),
}


@dataclass(frozen=True)
class Subindicator:
    code: str
    parent_code: str
    unit_of_measure: str


@lru_cache(maxsize=None)
def subindicators(seeds_dir: Path = SEEDS_DIR) -> dict[tuple[str, str], Subindicator]:
    """seeds/subindicators.csv: (indicator, code) -> its parent and unit of measure."""
    with open(Path(seeds_dir) / "subindicators.csv", encoding="utf-8", newline="") as f:
        return {(d["indicator"], d["subindicator_code"]): Subindicator(d["subindicator_code"], d["parent_code"],
                                                                       d["unit_of_measure"])
                for d in csv.DictReader(f)}


@lru_cache(maxsize=None)
def _crosswalk_rows(seeds_dir: Path = SEEDS_DIR) -> tuple[dict, ...]:
    with open(Path(seeds_dir) / "subindicator_crosswalk.csv", encoding="utf-8", newline="") as f:
        return tuple(csv.DictReader(f))


class Crosswalk:
    """Column header -> sub-indicator for one indicator and year. A header repeated on one sheet (a
    satisfaction question after each of four procedures) is told apart by its occurrence: call
    code() for the columns of a sheet from left to right.

    A year the crosswalk does not list yet (a new edition) keeps the code of every header identical
    (folded: case, spaces, punctuation, diacritics) to an earlier year's under the same parent, as the
    seed script would give it. Any other header is a new or reworded question: miss() records it, and
    stop() raises one error naming them all, for a person to review (`govwh crosswalk review`)."""

    def __init__(self, indicator: str, year: int, seeds_dir: Path = SEEDS_DIR):
        items = subindicators(seeds_dir)
        rows = [d for d in _crosswalk_rows(seeds_dir) if d["indicator"] == indicator]
        self.indicator, self.year = indicator, year
        self.codes = {(d["sheet"], fold(d["column_header"]), int(d["occurrence"])): items[(indicator, d["subindicator_code"])]
                      for d in rows if int(d["year"]) == year}
        same: dict[tuple[str, str, int], set[str]] = {}
        for d in rows:
            item = items[(indicator, d["subindicator_code"])]
            same.setdefault((item.parent_code, fold(d["column_header"]), int(d["occurrence"])), set()).add(item.code)
        self.same = {k: items[(indicator, next(iter(v)))] for k, v in same.items() if len(v) == 1}
        self.seen: dict[tuple[str, str], int] = {}
        self.unknown: list[tuple] = []
        self.known: list[tuple] = []  # the columns mapped: listed for the year, or identical to an earlier year's

    def code(self, sheet: str, header: str, parent: str | None = None, column: str = "") -> Subindicator | None:
        key = (sheet, fold(header))
        n = self.seen[key] = self.seen.get(key, 0) + 1
        item = self.codes.get((*key, n))
        if item is None and parent is not None:
            item = self.same.get((parent, key[1], n))
        if item is not None and item.parent_code == parent:
            self.known.append((sheet, column, header, n, parent, item.code))
        return item

    def miss(self, sheet: str, column: str, header: str, parent: str) -> None:
        self.unknown.append((sheet, column, header, self.seen.get((sheet, fold(header)), 1), parent, ""))

    def stop(self, label: str, publication: str, review: bool = False) -> None:
        """One error naming every unknown column (in review mode: also when every header is known,
        so that the review sees every column's mapping)."""
        if self.unknown or (review and self.known):
            raise UnknownColumnsError(label, publication, self.indicator, self.year, self.unknown, self.known)


def crosswalk(indicator: str, year: int, seeds_dir: Path = SEEDS_DIR) -> Crosswalk:
    """The crosswalk of the seeds the parse was given (ParseContext.seeds_dir)."""
    return Crosswalk(indicator, year, seeds_dir)


def item_columns(pub, ctx, year: int, sheet: str, header: list, items: list[tuple[int, str]]) -> dict[int, str]:
    """Column -> sub-indicator code for a sheet's indicator columns ((column, parent) pairs, left to
    right); columns the crosswalk does not know under their parent stop the parse, all named at once."""
    codes = crosswalk(pub.indicator, year, ctx.seeds_dir)
    out = {}
    for c, parent in items:
        item = codes.code(sheet, str(header[c]), parent, col_letter(c))
        if item is None or item.parent_code != parent:
            codes.miss(sheet, col_letter(c), str(header[c]), parent)
            continue
        out[c] = item.code
    codes.stop(ctx.label, pub.id, ctx.review)
    return out


NO_DATA = {"kcdl"}  # "không có dữ liệu", printed by UNDP where a province has no figure


def is_no_data(value) -> bool:
    """A blank or "KCDL" cell: no data, never zero."""
    return value is None or (isinstance(value, str) and fold(value) in NO_DATA)


def check_subindicators(rows: list[TidyRow], label: str, seeds_dir: Path = SEEDS_DIR) -> None:
    """Every sub-indicator value lies within its unit's range (a share above 1 is a layout change)."""
    items = subindicators(seeds_dir)
    for r in rows:
        if r.value is None:
            continue
        unit = items[(r.indicator, r.component_code)].unit_of_measure
        low, high = UNIT_BOUNDS[unit]
        if not low <= r.value <= high:
            raise LayoutError(label, f"{r.component_code} ({r.component_name!r}) = {r.value} for {r.unit_name!r} "
                                     f"is outside [{low:g}, {high:g}], the range of {unit} at cell {r.cell}",
                              sheet=r.sheet)
