"""UNDP PAPI 2019 provincial indicators workbook: totals with their uncertainty, dimensions,
sub-dimensions and the survey indicators beneath them, one row per province.

Sheet '2019PAPI_Indicators_ENG (2)' (the English sheet with provinces as rows; the other
sheets hold the same figures transposed or in Vietnamese): the GSO code ('Tinh_ID') and name,
then the weighted and unweighted PAPI totals each with its 95% interval and standard error,
then for each of the 8 dimensions: its score, 'Variance (Dimension N)', 'Observations
(Dimension N)', its sub-dimensions (in the publisher's fixed order, checked by name) and its
indicators ("sub-indicators" here), matched to stable codes through
seeds/subindicator_crosswalk.csv. Dimension 5's score column has no 'Dimension 5:' label, so
dimensions are found by their variance column. "KCDL" or a blank means no data, never zero.
"""
from __future__ import annotations

from .. import names
from ..catalogue import PublisherFile
from ..errors import LayoutError, UnknownUnitError
from ..excel import Workbook, col_letter
from ..tidy import TidyRow
from . import ParseContext, ParseResult
from .guards import check_range, check_subindicators, check_units, is_no_data, item_columns

SHEET = "2019PAPI_Indicators_ENG (2)"
# (component, value column, interval low, interval high, standard error), by folded header.
TOTALS = (
    ("overall", "unweightedpapiscore", "unweighted95cilow", "unweighted95cihigh", "unweightedstandarderror"),
    ("overall_weighted", "weightedpapiscore", "papi95cilow", "papi95cihigh", "papistandarderror"),
)
DIMENSIONS = {
    1: "d1_participation", 2: "d2_transparency", 3: "d3_accountability", 4: "d4_corruption",
    5: "d5_procedures", 6: "d6_services", 7: "d7_environment", 8: "d8_egovernance",
}
# Each dimension's sub-dimensions in the order the sheet gives them: (code, folded name fragment).
SUBDIMENSIONS = {
    1: [("d1_1_civic_knowledge", "civicknowledge"), ("d1_2_opportunities", "opportuntiesforparticipation"),
        ("d1_3_elections", "elections"), ("d1_4_contributions", "voluntarycontributions")],
    2: [("d2_4_access_information", "accesstoinformation"), ("d2_1_poverty_lists", "povertylist"),
        ("d2_2_communal_budget", "communalbudget"), ("d2_3_land_use_plans", "landuseplan")],
    3: [("d3_1_interactions", "interactionswithlocalauthorities"), ("d3_5_appeals", "citizenappeals"),
        ("d3_6_justice", "accesstojusticeservices")],
    4: [("d4_1_public_sector", "corruptioninlocalgovernments"), ("d4_2_service_delivery", "servicedelivery"),
        ("d4_3_employment", "equityinstateemployment"), ("d4_4_willingness", "willingnesstofightcorruption")],
    5: [("d5_1_certification", "certificationprocedures"), ("d5_2_construction", "constructionpermits"),
        ("d5_3_land_rights", "landtittleprocedures"), ("d5_4_personal", "personalprocedures")],
    6: [("d6_1_health", "publichealthcare"), ("d6_2_education", "primaryeducation"),
        ("d6_3_infrastructure", "basicinfrastructure"), ("d6_4_law_order", "lawandorder")],
    7: [("d7_1_protection", "environmentalprotection"), ("d7_2_air", "qualityofair"),
        ("d7_3_water", "qualityofwater")],
    8: [("d8_1_portals", "accesstoegovernmentportals"), ("d8_2_internet", "accesstotheinternet"),
        ("d8_3_eresponsiveness", "ereponsiveness")],
}
BOUNDS = {"overall": (10.0, 80.0), "overall_weighted": (10.0, 80.0), "*": (0.0, 10.0)}
DIMENSION_BOUNDS = (1.0, 10.0)


def layout(header: list) -> dict:
    """Column roles of the sheet: totals, dimensions, sub-dimensions and sub-indicator columns."""
    keys = [names.fold(h) if h is not None else "" for h in header]
    totals = {}
    for comp, *fragments in TOTALS:
        cols = []
        for fragment in fragments:
            matches = [c for c, k in enumerate(keys) if k == fragment]
            if len(matches) != 1:
                raise ValueError(f"expected one column {fragment!r}, found {len(matches)}")
            cols.append(matches[0])
        totals[comp] = cols
    variance = {}
    for c, k in enumerate(keys):
        if k.startswith("variancedimension"):
            variance[int(k.removeprefix("variancedimension"))] = c
    if sorted(variance) != sorted(DIMENSIONS):
        raise ValueError(f"expected variance columns for dimensions 1-8, found {sorted(variance)}")
    dims, subs, items = {}, {}, []
    starts = sorted(variance.values())
    for n, vc in sorted(variance.items()):
        if not keys[vc + 1].startswith("observationsdimension"):
            raise ValueError(f"expected 'Observations (Dimension {n})' at column {col_letter(vc + 1)}")
        dims[vc - 1] = DIMENSIONS[n]
        for i, (code, fragment) in enumerate(SUBDIMENSIONS[n]):
            c = vc + 2 + i
            if fragment not in keys[c]:
                raise ValueError(f"expected sub-dimension {code} at column {col_letter(c)}, found {header[c]!r}")
            subs[c] = code
        following = [s - 1 for s in starts if s > vc]
        end = following[0] if following else len(header)
        items += [(c, DIMENSIONS[n]) for c in range(vc + 2 + len(SUBDIMENSIONS[n]), end) if header[c] is not None]
    return {"totals": totals, "dimensions": dims, "subdimensions": subs, "items": items}


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
    if [names.fold(h or "") for h in header[:2]] != ["tinhid", "tinhthanhpho"]:
        raise LayoutError(ctx.label, f"expected Tinh_ID and Tỉnh/Thành phố in A1:B1, found {header[:2]}",
                          sheet=sheet, row=1)
    try:
        cols = layout(header)
    except ValueError as exc:
        raise LayoutError(ctx.label, str(exc), sheet=sheet, row=1) from exc
    item_codes = item_columns(pub, ctx, year, sheet, header, cols["items"])

    registry = names.provinces(ctx.seeds_dir)
    out: list[TidyRow] = []
    seen: dict[str, int] = {}

    def value_at(r: int, c: int, required: bool) -> float | None:
        v = rows[r][c]
        if is_no_data(v):
            if required:
                raise LayoutError(ctx.label, f"no figure at {col_letter(c)}{r + 1} ({header[c]!r})", sheet=sheet,
                                  row=r + 1)
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise LayoutError(ctx.label, f"expected a number at {col_letter(c)}{r + 1} ({header[c]!r}), "
                                         f"found {v!r}", sheet=sheet, row=r + 1)
        return float(v)

    for r in range(1, len(rows)):
        if all(v is None for v in rows[r]):
            continue
        name = str(rows[r][1])
        code = registry.lookup(name, year)
        if code is None:
            raise UnknownUnitError(ctx.label, name, registry.candidates(name, year), sheet=sheet, row=r + 1, year=year)
        gso = rows[r][0]
        if not isinstance(gso, (int, float)) or f"{int(gso):02d}" != code:
            raise LayoutError(ctx.label, f"{name!r} resolves to province {code} but the sheet gives Tinh_ID "
                                         f"{gso!r}", sheet=sheet, row=r + 1)
        if code in seen:
            raise LayoutError(ctx.label, f"{name!r} appears twice (rows {seen[code] + 1} and {r + 1})", sheet=sheet,
                              row=r + 1)
        seen[code] = r

        def emit(comp, c, grain="score", ci=(None, None, None), required=True):
            value = value_at(r, c, required)
            out.append(TidyRow(
                publication_id=pub.id, indicator=pub.indicator, level=pub.level, year=year, unit_name=name,
                unit_code=code, component_code=comp, component_name=" ".join(str(header[c]).split()), value=value,
                value_status="published" if value is not None else "no_data", rank=None, tier=None,
                source_file=ctx.source_file, source_sha256=ctx.source_sha256, sheet=sheet,
                cell=f"{col_letter(c)}{r + 1}", grain=grain, ci_low=ci[0], ci_high=ci[1], standard_error=ci[2],
            ))

        for comp, (vc, lo, hi, se) in cols["totals"].items():
            ci = (value_at(r, lo, True), value_at(r, hi, True), value_at(r, se, True))
            value = value_at(r, vc, True)
            if not ci[0] <= value <= ci[1] or ci[2] < 0:
                raise LayoutError(ctx.label, f"{comp} of {name!r} is {value}, outside its 95% interval "
                                             f"[{ci[0]}, {ci[1]}] (or a negative standard error)", sheet=sheet,
                                  row=r + 1)
            emit(comp, vc, ci=ci)
        for c, comp in {**cols["dimensions"], **cols["subdimensions"]}.items():
            emit(comp, c)
        for c, item in item_codes.items():
            emit(item, c, grain="subindicator", required=False)

    scores = [x for x in out if x.grain == "score"]
    check_units(scores, pub.units_in, ctx.label)
    check_range(scores, ctx.label, BOUNDS)
    check_range([x for x in scores if x.component_code in DIMENSIONS.values()], ctx.label, {"*": DIMENSION_BOUNDS})
    check_subindicators([x for x in out if x.grain == "subindicator"], ctx.label, ctx.seeds_dir)
    return ParseResult(out, [])
