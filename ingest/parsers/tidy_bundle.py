"""The embedded bundle: tidy tables this project's own parsers made from the publishers'
original files (data/bundle/*.csv.gz). Read back with the same guards as a fresh parse:
exact columns, the right publication and years, unit names that still resolve to the codes
recorded, and the expected number of units.
"""
from __future__ import annotations

from .. import names
from ..catalogue import PublisherFile
from ..errors import LayoutError
from ..tidy import read_bundle, row_from_strings
from . import ParseContext, ParseResult
from .guards import check_units


def parse(pub: PublisherFile, ctx: ParseContext) -> ParseResult:
    try:
        raw = read_bundle(ctx.path)
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise LayoutError(ctx.label, f"cannot read bundle ({type(exc).__name__}: {exc})") from exc
    registry = names.provinces()
    resolved: dict[tuple[str, int], str | None] = {}
    rows = []
    for i, d in enumerate(raw, start=2):  # line 1 is the header
        try:
            row = row_from_strings(d)
        except (KeyError, ValueError) as exc:
            raise LayoutError(ctx.label, f"bad value ({exc})", row=i) from exc
        if row.publication_id != pub.id or row.year not in pub.years:
            raise LayoutError(ctx.label, f"row belongs to {row.publication_id} {row.year}, "
                                         f"not {pub.id}", row=i)
        if row.row_kind == "aggregate":  # a published Min / Median / Max row: no unit to resolve
            if row.unit_code:
                raise LayoutError(ctx.label, f"aggregate row {row.unit_name!r} carries unit {row.unit_code}", row=i)
            rows.append(row)
            continue
        key = (row.unit_name, row.year)
        if key not in resolved:  # a name repeats on every row of its province: resolve it once per year
            resolved[key] = registry.lookup(row.unit_name, row.year)
        code = resolved[key]
        if code != row.unit_code:
            raise LayoutError(ctx.label, f"{row.unit_name!r} resolves to {code}, bundle says "
                                         f"{row.unit_code}", row=i)
        rows.append(row)
    if not rows:
        raise LayoutError(ctx.label, "bundle holds no rows")
    check_units(rows, pub.expected_units, ctx.label, pub.count_component)
    return ParseResult(rows)
