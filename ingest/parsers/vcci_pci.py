"""VCCI Provincial Competitiveness Index data workbooks, 2005-2016.

The summary sheet changes layout across the years, so each year names its layout:
- 'rows': one row per province, one column per sub-index (2005, 2006, 2007, 2009);
- 'pairs': repeated (province, score) column pairs, each pair sorted on its own score, then
  PCI, rank and tier (2008, 2010-2016); a spotlight block for one province sits below a blank
  row and is not part of the table.
Header labels are matched on their folded form (no diacritics, case or spaces) against the
Vietnamese labels below, which map each sub-index to a code that is stable across years.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import names
from ..catalogue import PublisherFile
from ..errors import LayoutError, UnknownUnitError
from ..excel import Workbook, col_letter
from ..tidy import TidyRow
from . import ParseContext, ParseResult
from .guards import check_ranks, check_range, check_units

# Folded header fragments -> role. First match wins, so the specific come before the general.
HEADER_RULES: list[tuple[str, str]] = [
    ("nhomxephang", "tier"),  # Nhóm xếp hạng
    ("xephang", "rank"),  # Xếp hạng
    ("thuhang", "rank"),  # Thứ hạng
    ("thutu", "order"),  # Thứ tự: row position in a sorted table
    ("chuacotrongso", "overall_unweighted"),  # Chưa có trọng số
    ("mapci", "ignore"),  # Mã PCI: VCCI's internal province number
    ("mucdophattrien", "ignore"),  # 2005 "initial conditions", not sub-indices
    ("chatluongcosohatang", "ignore"),
    ("khoangcachtoithitruong", "ignore"),
    ("gianhapthitruong", "entry_costs"),  # (Chi phí) gia nhập thị trường
    ("tiepcandatdai", "land_access"),  # Tiếp cận đất đai
    ("minhbach", "transparency"),  # Tính minh bạch
    ("thoigian", "time_costs"),  # Chi phí (về) thời gian
    ("khongchinhthuc", "informal_charges"),  # Chi phí không chính thức
    ("trunguong", "central_policy"),  # Thực hiện chính sách của Trung ương (2005)
    ("uudai", "soe_bias"),  # Ưu đãi đối với DNNN
    ("canhtranhbinhdang", "equal_competition"),  # Cạnh tranh bình đẳng (2013-)
    ("nangdong", "proactivity"),  # Tính năng động
    ("hotrodoanhnghiep", "business_support"),  # Hỗ trợ doanh nghiệp (2009-)
    ("hotrodn", "business_support"),  # Dịch vụ hỗ trợ DN
    ("phattrienkhuvuc", "business_support"),  # Chính sách phát triển khu vực KTTN (2005-2008)
    ("daotaolaodong", "labor_training"),  # Đào tạo lao động
    ("thietchephaply", "legal_institutions"),  # Thiết chế pháp lý
    ("pci", "overall"),  # PCI <year> (có trọng số) / Chỉ số PCI cuối cùng
]
EXACT_RULES = {"vung": "ignore", "tinh": "name", "tinhthanhpho": "name"}
VALUE_ROLES = {code for _frag, code in HEADER_RULES} - {"tier", "rank", "order", "ignore"}
END_OF_TABLE = {"min", "max", "trungvi", "trungbinh", "highest", "lowest"}
BOUNDS = {"overall": (0.0, 100.0), "overall_unweighted": (0.0, 100.0), "*": (0.0, 10.01)}


@dataclass(frozen=True)
class Layout:
    kind: str  # rows | pairs
    sheets: tuple[str, ...]
    header_rows: tuple[int, ...]
    unlabelled: dict[int, str] = field(default_factory=dict)  # column -> role, where the header is blank
    rank_from_order: bool = False


def layout_of(pub: PublisherFile, label: str) -> Layout:
    """The year's summary-table layout, as its family declares it (catalogue/vcci-pci.yml)."""
    d = pub.layout
    try:
        return Layout(str(d["kind"]), tuple(str(x) for x in d["sheets"]), tuple(int(h) for h in d["header_rows"]),
                      unlabelled={int(c): str(role) for c, role in (d.get("unlabelled") or {}).items()},
                      rank_from_order=bool(d.get("rank_from_order", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise LayoutError(label, f"no PCI summary-table layout is declared for {pub.year} (kind, sheets and "
                                 f"header_rows under layouts in catalogue/vcci-pci.yml; {type(exc).__name__} "
                                 f"{exc})") from None


# 2005 keeps ranks and tiers (a label on the first province of each group) on their own sheet.
RANK_SHEET_2005 = ("Xếp hạng theo chỉ số PCI",)


def classify(label: str) -> str | None:
    key = names.fold(label)
    if not key:
        return None
    if key in EXACT_RULES:
        return EXACT_RULES[key]
    for fragment, role in HEADER_RULES:
        if fragment in key:
            return role
    return None


def _labels(rows: list[list], header_rows: tuple[int, ...]) -> list[str]:
    width = len(rows[0]) if rows else 0
    out = []
    for c in range(width):
        parts: list[str] = []
        for h in header_rows:
            cell = rows[h][c] if h < len(rows) else None
            if cell is not None and str(cell) not in parts:  # two header rows often repeat a label
                parts.append(str(cell))
        out.append(" ".join(parts))
    return out


def _is_end(name) -> bool:
    return name is None or names.fold(str(name)) in END_OF_TABLE


def _number(value, label, sheet, r, c):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LayoutError(label, f"expected a number at {col_letter(c)}{r + 1}, found {value!r}",
                          sheet=sheet, row=r + 1)
    return float(value)


class _Collector:
    """Gathers figures per resolved unit, refusing a unit that appears twice in one column."""

    def __init__(self, pub: PublisherFile, ctx: ParseContext, sheet: str):
        self.pub, self.ctx, self.sheet = pub, ctx, sheet
        self.registry = names.provinces(ctx.seeds_dir)
        self.figures: dict[tuple[str, str], dict] = {}  # (unit_code, role) -> figure
        self.component_names: dict[str, str] = {}

    def resolve(self, name, r: int) -> str:
        code = self.registry.lookup(str(name), self.pub.year)
        if code is None:
            raise UnknownUnitError(self.ctx.label, str(name), self.registry.candidates(str(name), self.pub.year),
                                   sheet=self.sheet, row=r + 1, year=self.pub.year)
        return code

    def add(self, code, unit_name, role, value, r, c, label, name_c):
        """A figure of cell (r, c) for the unit named in column name_c of the same row."""
        key = (code, role)
        if key in self.figures:
            first = self.figures[key]["row"]
            raise LayoutError(self.ctx.label, f"{unit_name!r} appears twice in the province column "
                                              f"{col_letter(name_c)} (rows {first} and {r + 1}), so column "
                                              f"{col_letter(c)} ({label!r}) holds two figures for it",
                              sheet=self.sheet, row=r + 1)
        self.figures[key] = {"name": str(unit_name), "value": value, "cell": f"{col_letter(c)}{r + 1}", "row": r + 1}
        if role in VALUE_ROLES:
            self.component_names.setdefault(role, " ".join(label.split()))


def _parse_rows_layout(rows, layout: Layout, col: _Collector, warnings: list[str]) -> None:
    label = col.ctx.label
    labels = _labels(rows, layout.header_rows)
    roles = {c: layout.unlabelled.get(c) or classify(labels[c]) for c in range(len(labels))}
    name_cols = [c for c, role in roles.items() if role == "name"]
    if not name_cols:
        raise LayoutError(label, f"no province column among the headers {labels}", sheet=col.sheet)
    name_col = name_cols[0]
    if "overall" not in roles.values():
        raise LayoutError(label, f"no PCI column among the headers {labels}", sheet=col.sheet)
    start = max(layout.header_rows) + 1
    for c, role in roles.items():
        if role is None and any(rows[r][c] is not None for r in range(start, len(rows))):
            warnings.append(f"{label}, sheet {col.sheet!r}: unexpected column {col_letter(c)} "
                            f"({labels[c]!r}) was not loaded")
    for r in range(start, len(rows)):
        name = rows[r][name_col]
        if _is_end(name):
            break
        code = col.resolve(name, r)
        for c, role in roles.items():
            if role in VALUE_ROLES:
                col.add(code, name, role, _number(rows[r][c], label, col.sheet, r, c), r, c, labels[c], name_col)
            elif role == "rank":
                col.add(code, name, "rank", int(_number(rows[r][c], label, col.sheet, r, c)), r, c, labels[c], name_col)
            elif role == "tier" and rows[r][c] is not None:
                col.add(code, name, "tier", str(rows[r][c]), r, c, labels[c], name_col)


def _parse_pairs_layout(rows, layout: Layout, col: _Collector, warnings: list[str]) -> None:
    label = col.ctx.label
    labels = _labels(rows, layout.header_rows)
    start = max(layout.header_rows) + 1
    end = start
    while end < len(rows) and rows[end][1] is not None:
        end += 1
    if end - start < 2:
        raise LayoutError(label, "no table found below the header", sheet=col.sheet, row=start + 1)
    data = range(start, end)

    def is_name_col(c):  # text in every row, under a blank or province header (not a tier column)
        return classify(labels[c]) in (None, "name") and all(isinstance(rows[r][c], str) for r in data)

    name_cols = [c for c in range(len(labels)) if is_name_col(c)]
    if not name_cols:
        raise LayoutError(label, "no province column found", sheet=col.sheet)
    for c, text in enumerate(labels):
        if c in name_cols:
            continue
        role = classify(text)
        if role is None or role == "name":
            if any(rows[r][c] is not None for r in data):
                warnings.append(f"{label}, sheet {col.sheet!r}: unexpected column {col_letter(c)} "
                                f"({text!r}) was not loaded")
            continue
        if role == "ignore":
            continue
        anchor = max((n for n in name_cols if n < c), default=None)
        if role == "order":
            anchor = min((n for n in name_cols if n > c), default=None)  # 'Thứ tự' leads each row
        if anchor is None:
            raise LayoutError(label, f"column {col_letter(c)} ({text!r}) has no province column beside it",
                              sheet=col.sheet)
        for r in data:
            name = rows[r][anchor]
            code = col.resolve(name, r)
            cell = rows[r][c]
            if role in VALUE_ROLES:
                col.add(code, name, role, _number(cell, label, col.sheet, r, c), r, c, text, anchor)
            elif role in ("rank", "order"):
                col.add(code, name, role, int(_number(cell, label, col.sheet, r, c)), r, c, text, anchor)
            elif role == "tier":
                col.add(code, name, "tier", None if cell is None else str(cell), r, c, text, anchor)
    if layout.rank_from_order:
        # The order column ranks the rows; the row's PCI province is the one ranked.
        overall_anchor = None
        for c, text in enumerate(labels):
            if c not in name_cols and classify(text) == "overall":
                overall_anchor = max(n for n in name_cols if n < c)
        for r in data:
            code = col.resolve(rows[r][overall_anchor], r)
            col.add(code, rows[r][overall_anchor], "rank", int(_number(rows[r][0], label, col.sheet, r, 0)),
                    r, 0, "Thứ tự", overall_anchor)


def _parse_2005_ranks(book: Workbook, col: _Collector) -> None:
    sheet = book.find_sheet(RANK_SHEET_2005)
    rows = book.rows(sheet)
    ranks = _Collector(col.pub, col.ctx, sheet)
    layout = Layout("rows", RANK_SHEET_2005, (0,), unlabelled={3: "tier"})
    _parse_rows_layout(rows, layout, ranks, [])
    tier = None
    for r in range(1, len(rows)):  # the tier label sits on the first province of each group
        if _is_end(rows[r][0]):
            break
        code = ranks.resolve(rows[r][0], r)
        if (code, "tier") in ranks.figures:
            tier = ranks.figures[(code, "tier")]
        elif tier is not None:
            ranks.figures[(code, "tier")] = {**tier, "name": str(rows[r][0])}
        summary = col.figures.get((code, "overall"))
        on_rank_sheet = ranks.figures[(code, "overall")]["value"]
        if summary is None or abs(summary["value"] - on_rank_sheet) > 1e-9:
            raise LayoutError(col.ctx.label, f"PCI of {rows[r][0]!r} on the rank sheet ({on_rank_sheet}) "
                                             f"differs from the summary sheet", sheet=sheet, row=r + 1)
    for (code, role), fig in ranks.figures.items():
        if role in ("rank", "tier"):
            col.figures[(code, role)] = {**fig, "sheet": sheet}


def parse(pub: PublisherFile, ctx: ParseContext) -> ParseResult:
    year = pub.year
    layout = layout_of(pub, ctx.label)
    if layout.kind not in ("rows", "pairs"):
        raise LayoutError(ctx.label, f"layout kind {layout.kind!r} for {year} is neither 'rows' nor 'pairs'")
    book = Workbook(ctx.path, ctx.label)
    try:
        sheet = book.find_sheet(layout.sheets)
        rows = book.rows(sheet)
        collector = _Collector(pub, ctx, sheet)
        warnings: list[str] = []
        if layout.kind == "rows":
            _parse_rows_layout(rows, layout, collector, warnings)
        else:
            _parse_pairs_layout(rows, layout, collector, warnings)
        if year == 2005:
            _parse_2005_ranks(book, collector)
    finally:
        book.close()

    figs = collector.figures
    units = sorted({code for code, _role in figs})
    out: list[TidyRow] = []
    for code in units:
        rank = figs.get((code, "rank"))
        tier = figs.get((code, "tier"))
        for role in sorted(VALUE_ROLES):
            fig = figs.get((code, role))
            if fig is None:
                continue
            is_overall = role == "overall"
            out.append(TidyRow(
                publication_id=pub.id, indicator=pub.indicator, level=pub.level, year=year,
                unit_name=fig["name"], unit_code=code, component_code=role,
                component_name=collector.component_names[role], value=fig["value"],
                value_status="published",
                rank=rank["value"] if (is_overall and rank) else None,
                tier=tier["value"] if (is_overall and tier) else None,
                source_file=ctx.source_file, source_sha256=ctx.source_sha256,
                sheet=sheet, cell=fig["cell"],
            ))
    for role in VALUE_ROLES & {r for _c, r in figs}:
        check_units([r for r in out if r.component_code == role], pub.units_in, ctx.label, role)
    check_units(out, pub.units_in, ctx.label)
    check_range(out, ctx.label, BOUNDS)
    check_ranks([r for r in out if r.component_code == "overall"], ctx.label)
    return ParseResult(out, warnings)
