"""VCCI Provincial Competitiveness Index data workbooks in English, 2017-2019.

Sheet 'Summary': Province, Rank, the weighted PCI score and the 10 sub-indices, one row per
province. Then one sheet per sub-index ('Entry Costs' … 'Law & Order'): Province, the
sub-index score (which must equal the Summary's) and its survey indicators ("sub-indicators"
here, since 'indicator' names PCI itself): medians in days, shares 0-1, 1-5 ratings, counts.

Below the 63 provinces of every sheet come a blank row, a second 'Ha Noi' row (a spotlight
copy of Hà Nội's row: it must repeat the figures above, and is not loaded twice) and the
published Min / Median / Max rows, which are loaded as aggregates, never as provinces, and
checked against the column they summarise. Sub-indicator columns are matched to stable codes
through seeds/subindicator_crosswalk.csv; a header identical (folded) to an earlier year's keeps
its code, and any other column stops the parse with one error naming them all, so a new or
reworded question is reviewed (`govwh crosswalk review`) and never mapped silently.
"""
from __future__ import annotations

import statistics

from .. import names
from ..catalogue import PublisherFile
from ..errors import LayoutError, UnknownUnitError
from ..excel import Workbook, col_letter
from ..tidy import TidyRow
from . import ParseContext, ParseResult
from .guards import check_range, check_ranks, check_subindicators, check_units, crosswalk

SUMMARY_SHEET = "Summary"
# Sub-index sheet -> the stable sub-index code (the same codes as the 2005-2016 workbooks').
SUBINDEX_SHEETS = {
    "Entry Costs": "entry_costs",
    "Land Access": "land_access",
    "Transparency": "transparency",
    "Time Costs": "time_costs",
    "Informal Charges": "informal_charges",
    "Bias": "equal_competition",
    "Proactivity": "proactivity",
    "BSS": "business_support",
    "Labor Training": "labor_training",
    "Law & Order": "legal_institutions",
}
# Folded Summary header fragment -> role; 'Sub-Index 6: Policy Bias' is VCCI's English name for
# 'Cạnh tranh bình đẳng' (equal competition), 'Labor Policy' for 'Đào tạo lao động'.
SUMMARY_RULES = [
    ("entrycosts", "entry_costs"),
    ("landaccess", "land_access"),
    ("transparency", "transparency"),
    ("timecosts", "time_costs"),
    ("informalcharges", "informal_charges"),
    ("policybias", "equal_competition"),
    ("proactivity", "proactivity"),
    ("businesssupport", "business_support"),
    ("laborpolicy", "labor_training"),
    ("laworder", "legal_institutions"),
    ("weightedpciscore", "overall"),
    ("rank", "rank"),
    ("province", "name"),
]
AGGREGATES = {"min": "min", "median": "median", "max": "max"}
SPOTLIGHT = "hanoi"  # the repeated row below the table
BOUNDS = {"overall": (0.0, 100.0), "*": (0.0, 10.0)}
TOLERANCE = 1e-9


def _role(label) -> str | None:
    key = names.fold(label or "")
    for fragment, role in SUMMARY_RULES:
        if fragment in key:
            return role
    return None


class _Sheet:
    """One sheet's table: the 63 province rows, the spotlight row and the aggregate rows."""

    def __init__(self, book: Workbook, sheet: str, pub: PublisherFile, ctx: ParseContext):
        self.sheet, self.label = sheet, ctx.label
        self.rows = book.rows(sheet)
        if len(self.rows) < 3:
            raise LayoutError(ctx.label, "sheet has no data rows", sheet=sheet)
        self.header = self.rows[0]
        if names.fold(self.header[0] or "") != "province":
            raise LayoutError(ctx.label, f"expected 'Province' in A1, found {self.header[0]!r}", sheet=sheet, row=1)
        registry = names.provinces(ctx.seeds_dir)
        self.units: list[tuple[int, str, str]] = []  # (row index, name as published, code)
        self.aggregates: list[tuple[int, str, str]] = []  # (row index, label, kind)
        self.spotlight: int | None = None
        seen: dict[str, int] = {}
        r = 1
        while r < len(self.rows) and self.rows[r][0] is not None:
            name = str(self.rows[r][0])
            code = registry.lookup(name, pub.year)
            if code is None:
                raise UnknownUnitError(ctx.label, name, registry.candidates(name, pub.year), sheet=sheet,
                                       row=r + 1, year=pub.year)
            if code in seen:
                raise LayoutError(ctx.label, f"{name!r} appears twice in the table (rows {seen[code] + 1} "
                                             f"and {r + 1})", sheet=sheet, row=r + 1)
            seen[code] = r
            self.units.append((r, name, code))
            r += 1
        for r in range(r, len(self.rows)):  # below the table: blank, spotlight, Min / Median / Max
            first = self.rows[r][0]
            if first is None:
                if any(v is not None for v in self.rows[r]):
                    raise LayoutError(ctx.label, "a row below the table has figures but no name", sheet=sheet,
                                      row=r + 1)
                continue
            key = names.fold(str(first))
            if key in AGGREGATES:
                self.aggregates.append((r, str(first), AGGREGATES[key]))
            elif key == SPOTLIGHT and self.spotlight is None:
                self.spotlight = r
            else:
                raise LayoutError(ctx.label, f"unexpected row {first!r} below the table (expected a "
                                             "blank row, 'Ha Noi', Min, Median, Max)", sheet=sheet, row=r + 1)
        if sorted(k for _r, _l, k in self.aggregates) != ["max", "median", "min"]:
            raise LayoutError(ctx.label, f"expected Min, Median and Max rows below the table, found "
                                         f"{[lbl for _r, lbl, _k in self.aggregates]}", sheet=sheet)

    def check_spotlight(self, columns: list[int]) -> None:
        """The repeated Hà Nội row must carry the same figures as Hà Nội's row in the table."""
        if self.spotlight is None:
            return
        first = next((r for r, _n, code in self.units if code == "01"), None)
        if first is None:
            raise LayoutError(self.label, "a 'Ha Noi' row below the table, but none in it", sheet=self.sheet,
                              row=self.spotlight + 1)
        for c in columns:
            a, b = self.rows[first][c], self.rows[self.spotlight][c]
            if a != b and not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) < 1e-6):
                raise LayoutError(self.label, f"the 'Ha Noi' row below the table differs from Hà Nội's row at "
                                              f"column {col_letter(c)}: {b!r} vs {a!r}", sheet=self.sheet,
                                  row=self.spotlight + 1)

    def number(self, r: int, c: int, optional: bool = False) -> float | None:
        value = self.rows[r][c]
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LayoutError(self.label, f"expected a number at {col_letter(c)}{r + 1} "
                                          f"({self.header[c]!r}), found {value!r}", sheet=self.sheet, row=r + 1)
        return float(value)

    def check_aggregates(self, c: int) -> None:
        """Published Min / Median / Max must summarise the column they sit under."""
        values = [self.rows[r][c] for r, _n, _code in self.units if self.rows[r][c] is not None]
        if not values:
            return
        expected = {"min": min(values), "median": statistics.median(values), "max": max(values)}
        for r, label, kind in self.aggregates:
            got = self.rows[r][c]
            if got is None:
                continue
            if abs(float(got) - expected[kind]) > 1e-6 * max(1.0, abs(expected[kind])):
                raise LayoutError(self.label, f"the published {label} of column {col_letter(c)} "
                                              f"({self.header[c]!r}) is {got}, but the {len(values)} provinces "
                                              f"give {expected[kind]}", sheet=self.sheet, row=r + 1)


def parse(pub: PublisherFile, ctx: ParseContext) -> ParseResult:
    year = pub.year
    book = Workbook(ctx.path, ctx.label)
    out: list[TidyRow] = []

    def row(unit_name, code, comp, comp_name, value, sheet, cell, *, rank=None, grain="score", kind="unit",
            status="published"):
        out.append(TidyRow(
            publication_id=pub.id, indicator=pub.indicator, level=pub.level, year=year, unit_name=unit_name,
            unit_code=code, component_code=comp, component_name=" ".join(str(comp_name).split()), value=value,
            value_status=status if value is not None else "no_data", rank=rank, tier=None,
            source_file=ctx.source_file, source_sha256=ctx.source_sha256, sheet=sheet, cell=cell,
            grain=grain, row_kind=kind,
        ))

    try:
        summary = _Sheet(book, book.find_sheet((SUMMARY_SHEET,)), pub, ctx)
        roles = {c: _role(h) for c, h in enumerate(summary.header) if h is not None}
        for c, role in roles.items():
            if role is None:
                raise LayoutError(ctx.label, f"unexpected column {col_letter(c)} ({summary.header[c]!r})",
                                  sheet=summary.sheet, row=1)
        by_role = {role: c for c, role in roles.items()}
        missing = sorted((set(SUBINDEX_SHEETS.values()) | {"overall", "rank", "name"}) - set(by_role))
        if missing or len(by_role) != len(roles):
            raise LayoutError(ctx.label, f"Summary columns: missing {missing} or one given twice "
                                         f"({list(summary.header)})", sheet=summary.sheet, row=1)
        value_cols = [c for c, role in roles.items() if role not in ("name", "rank")]
        summary.check_spotlight([c for c in roles if roles[c] != "name"])
        subindex_scores: dict[tuple[str, str], float] = {}
        for r, name, code in summary.units:
            rank = summary.number(r, by_role["rank"])
            if rank != int(rank):
                raise LayoutError(ctx.label, f"rank {rank} of {name!r} is not a whole number",
                                  sheet=summary.sheet, row=r + 1)
            for c in value_cols:
                value = summary.number(r, c)
                role = roles[c]
                subindex_scores[(code, role)] = value
                row(name, code, role, summary.header[c], value, summary.sheet, f"{col_letter(c)}{r + 1}",
                    rank=int(rank) if role == "overall" else None)
        for c in value_cols:
            summary.check_aggregates(c)
            for r, label, kind in summary.aggregates:
                row(label, "", roles[c], summary.header[c], summary.number(r, c), summary.sheet,
                    f"{col_letter(c)}{r + 1}", kind="aggregate", status=kind)

        codes = crosswalk(pub.indicator, year, ctx.seeds_dir)
        for sheet_name, parent in SUBINDEX_SHEETS.items():
            table = _Sheet(book, book.find_sheet((sheet_name,)), pub, ctx)
            if _role(table.header[1]) != parent:
                raise LayoutError(ctx.label, f"expected the {parent} score in B1, found {table.header[1]!r}",
                                  sheet=table.sheet, row=1)
            columns = [c for c in range(2, len(table.header)) if table.header[c] is not None]
            for c in range(2, len(table.header)):
                if table.header[c] is None and any(table.rows[r][c] is not None for r, _n, _k in table.units):
                    raise LayoutError(ctx.label, f"column {col_letter(c)} has figures but no header",
                                      sheet=table.sheet, row=1)
            table.check_spotlight([1] + columns)
            for r, name, code in table.units:  # the sheet's sub-index score is the Summary's
                score = table.number(r, 1)
                if abs(score - subindex_scores[(code, parent)]) > TOLERANCE:
                    raise LayoutError(ctx.label, f"{parent} of {name!r} is {score} here but "
                                                 f"{subindex_scores[(code, parent)]} on the Summary sheet",
                                      sheet=table.sheet, row=r + 1)
            for c in columns:
                header = str(table.header[c])
                item = codes.code(table.sheet, header, parent, col_letter(c))
                if item is None:  # a new or reworded question: named with the others once every sheet is read
                    codes.miss(table.sheet, col_letter(c), header, parent)
                    continue
                if item.parent_code != parent:
                    raise LayoutError(ctx.label, f"column {col_letter(c)} ({header!r}) belongs to "
                                                 f"{item.parent_code} in the crosswalk, not {parent}",
                                      sheet=table.sheet, row=1)
                table.check_aggregates(c)
                for r, name, code in table.units:
                    row(name, code, item.code, header, table.number(r, c, optional=True), table.sheet,
                        f"{col_letter(c)}{r + 1}", grain="subindicator")
                for r, label, kind in table.aggregates:
                    row(label, "", item.code, header, table.number(r, c, optional=True), table.sheet,
                        f"{col_letter(c)}{r + 1}", grain="subindicator", kind="aggregate", status=kind)
        codes.stop(ctx.label, pub.id, ctx.review)
    finally:
        book.close()

    scores = [r for r in out if r.grain == "score"]
    for comp in set(SUBINDEX_SHEETS.values()) | {"overall"}:
        check_units(scores, pub.units_in, ctx.label, comp)
    check_range([r for r in scores if r.row_kind == "unit"], ctx.label, BOUNDS)
    check_ranks([r for r in scores if r.component_code == "overall" and r.row_kind == "unit"], ctx.label)
    check_subindicators([r for r in out if r.grain == "subindicator"], ctx.label, ctx.seeds_dir)
    return ParseResult(out)
