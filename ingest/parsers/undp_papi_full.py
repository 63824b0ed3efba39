"""UNDP PAPI 'FULL' workbook in Vietnamese (2018): the total, dimensions, sub-dimensions and the
survey indicators beneath them, one row per province on the sheet 'Transposed'.

Column A holds a province number of the survey's own (no header; not the GSO code: Trà Vinh
is 54 there, 84 at GSO), checked only for being a whole number given once; B the name, C the unweighted total ('Chỉ số PAPI 2018
(không có trọng số)'), then for each dimension 'Chỉ số nội dung N: …', its sub-dimensions
'N.M: …' and, after each sub-dimension, its indicators ("sub-indicators" here), matched to
stable codes through seeds/subindicator_crosswalk.csv. Sub-dimension N.M gets the same code as
in the 2019 file (the 2018 structure: eight dimensions). "KCDL" (không có dữ liệu) is no data,
never zero: Quảng Ninh and Đồng Tháp carry it for the total and two dimensions in 2018.
"""
from __future__ import annotations

import re

from .. import names
from ..catalogue import PublisherFile
from ..errors import LayoutError, UnknownUnitError
from ..excel import Workbook, col_letter
from ..tidy import TidyRow
from . import ParseContext, ParseResult
from .guards import check_range, check_subindicators, check_units, is_no_data, item_columns
from .undp_papi_2019 import DIMENSIONS, SUBDIMENSIONS

SHEET = "Transposed"
DIMENSION = re.compile(r"^chisonoidung(\d)")  # 'Chỉ số nội dung N: …'
SUBDIMENSION = re.compile(r"^(\d)\.(\d):")  # 'N.M: …' (matched on the raw header)
BOUNDS = {"overall": (10.0, 80.0), "*": (0.0, 10.0)}


def layout(header: list) -> dict:
    """Column roles: the total, dimensions, sub-dimensions and sub-indicator columns (with parent dimension)."""
    if names.fold(header[1] or "") != "tentinhthanhpho" or "chisopapi" not in names.fold(header[2] or ""):
        raise ValueError(f"expected 'Tên tỉnh/thành phố' and the PAPI total in B1:C1, found {header[1:3]}")
    dims, subs, items = {}, {}, []
    current = None
    for c in range(3, len(header)):
        if header[c] is None:
            continue
        text = str(header[c]).strip()
        d = DIMENSION.match(names.fold(text))
        s = SUBDIMENSION.match(text)
        if d:
            current = int(d.group(1))
            if current not in DIMENSIONS:
                raise ValueError(f"unknown dimension {current} at column {col_letter(c)}")
            dims[c] = DIMENSIONS[current]
        elif s:
            n, m = int(s.group(1)), int(s.group(2))
            if n != current or m > len(SUBDIMENSIONS[n]):
                raise ValueError(f"sub-dimension {n}.{m} at column {col_letter(c)} is not one of dimension "
                                 f"{current}'s")
            subs[c] = SUBDIMENSIONS[n][m - 1][0]
        elif current is None:
            raise ValueError(f"column {col_letter(c)} ({text!r}) comes before the first dimension")
        else:
            items.append((c, DIMENSIONS[current]))
    if sorted(dims.values()) != sorted(DIMENSIONS.values()):
        raise ValueError(f"expected the 8 dimensions, found {sorted(dims.values())}")
    return {"dimensions": dims, "subdimensions": subs, "items": items}


def parse(pub: PublisherFile, ctx: ParseContext) -> ParseResult:
    year = pub.year
    book = Workbook(ctx.path, ctx.label)
    try:
        sheet = book.find_sheet((SHEET,))
        rows = book.rows(sheet)
    finally:
        book.close()
    if len(rows) < 2:
        raise LayoutError(ctx.label, "sheet has no data rows", sheet=sheet)
    header = rows[0]
    try:
        cols = layout(header)
    except ValueError as exc:
        raise LayoutError(ctx.label, str(exc), sheet=sheet, row=1) from exc
    item_codes = item_columns(pub, ctx, year, sheet, header, cols["items"])

    registry = names.provinces(ctx.seeds_dir)
    out: list[TidyRow] = []
    seen: dict[str, int] = {}
    numbers: set[int] = set()
    for r in range(1, len(rows)):
        row = rows[r]
        if all(v is None for v in row):
            continue
        name = str(row[1])
        code = registry.lookup(name, year)
        if code is None:
            raise UnknownUnitError(ctx.label, name, registry.candidates(name, year), sheet=sheet, row=r + 1, year=year)
        if isinstance(row[0], bool) or not isinstance(row[0], (int, float)) or row[0] != int(row[0]) \
                or int(row[0]) in numbers:
            raise LayoutError(ctx.label, f"column A of {name!r} is {row[0]!r}, not a province number given once",
                              sheet=sheet, row=r + 1)
        numbers.add(int(row[0]))
        if code in seen:
            raise LayoutError(ctx.label, f"{name!r} appears twice (rows {seen[code] + 1} and {r + 1})", sheet=sheet,
                              row=r + 1)
        seen[code] = r
        targets = [(2, "overall", "score"), *((c, comp, "score") for c, comp in cols["dimensions"].items()),
                   *((c, comp, "score") for c, comp in cols["subdimensions"].items()),
                   *((c, item, "subindicator") for c, item in item_codes.items())]
        for c, comp, grain in targets:
            v = row[c]
            if is_no_data(v):
                value = None
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                raise LayoutError(ctx.label, f"expected a number or KCDL at {col_letter(c)}{r + 1} ({header[c]!r}), "
                                             f"found {v!r}", sheet=sheet, row=r + 1)
            else:
                value = float(v)
            out.append(TidyRow(
                publication_id=pub.id, indicator=pub.indicator, level=pub.level, year=year, unit_name=name,
                unit_code=code, component_code=comp, component_name=" ".join(str(header[c]).split()), value=value,
                value_status="published" if value is not None else "no_data", rank=None, tier=None,
                source_file=ctx.source_file, source_sha256=ctx.source_sha256, sheet=sheet,
                cell=f"{col_letter(c)}{r + 1}", grain=grain,
            ))

    scores = [x for x in out if x.grain == "score"]
    check_units(scores, pub.units_in, ctx.label, pub.count_component)
    check_range(scores, ctx.label, BOUNDS)
    check_subindicators([x for x in out if x.grain == "subindicator"], ctx.label, ctx.seeds_dir)
    return ParseResult(out, [])
