"""Checks shared by the parsers: unit counts, value ranges, ranks that agree with scores."""
from __future__ import annotations

from collections import defaultdict

from ..errors import LayoutError
from ..tidy import TidyRow


def check_units(rows: list[TidyRow], expected: int, label: str, component: str = "overall") -> None:
    per_year: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        if r.component_code == component:
            per_year[r.year].add(r.unit_code)
    for year, units in sorted(per_year.items()):
        if len(units) != expected:
            raise LayoutError(label, f"{year}: {len(units)} units with an {component!r} figure, "
                                     f"expected {expected}")


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
