"""UNDP PAPI provincial panel workbooks (2011-2016, and the re-issued 2011-2019): one sheet per year.

Each '<year>_PAPI' sheet has two header rows (English, then Vietnamese), one row per province
with its GSO code ('tinhid'), the six dimensions each followed by its sub-dimensions, and the
unweighted total (the re-issued panel prints no total for 2018 and 2019: those come from the
year's own file). From 2018 the dimensions are eight: Transparency gains Access to Information,
Vertical Accountability's boards give way to appeals and Access to Justice Services, and
Environmental Governance and E-Governance arrive. A province the survey excluded has blank cells and a total of 0: that is
'not scored', never a score of zero. The English headers map to stable component codes.
"""
from __future__ import annotations

from .. import names
from ..catalogue import PublisherFile
from ..errors import LayoutError, UnknownUnitError
from ..excel import Workbook, col_letter
from ..tidy import TidyRow
from . import ParseContext, ParseResult
from .guards import check_range, check_units, is_no_data

# English header (folded) -> component code. Every dimension and the total must be present;
# the sub-dimensions may change (2016 replaced community investment boards with
# responsiveness to citizen actions), and a header not listed here is reported.
COMPONENTS = {
    "participationatlocallevels": "d1_participation",
    "civicknowledge": "d1_1_civic_knowledge",
    "opportunitiesforparticipation": "d1_2_opportunities",
    "qualityofelections": "d1_3_elections",
    "voluntarycontributions": "d1_4_contributions",
    "transparency": "d2_transparency",
    "povertylists": "d2_1_poverty_lists",
    "communalbudgetandexpenditure": "d2_2_communal_budget",
    "landuseplanspriceframes": "d2_3_land_use_plans",
    "verticalaccountability": "d3_accountability",
    "interactionswithlocalauthorities": "d3_1_interactions",
    "peoplesinspectionboards": "d3_2_inspection_boards",
    "communityinvestmentboards": "d3_3_investment_boards",  # to 2015
    "responsivetocitizenactions": "d3_4_responsiveness",  # 2016-2017
    # from 2018 (re-issued panel)
    "qualityoflocalelections": "d1_3_elections",  # renamed, same sub-dimension
    "accesstoinformation": "d2_4_access_information",
    "localgovernmentsresponsetocitizensappeals": "d3_5_appeals",
    "accesstojusticeservices": "d3_6_justice",
    "environmentalgovernance": "d7_environment",
    "seriousnessinenvironmentprotection": "d7_1_protection",
    "qualityofair": "d7_2_air",
    "qualityofwater": "d7_3_water",
    "egovernance": "d8_egovernance",
    "accesstoegovernmentportals": "d8_1_portals",
    "accesstotheinternet": "d8_2_internet",
    "ereponsiveness": "d8_3_eresponsiveness",  # sic
    "controlofcorruption": "d4_corruption",
    "limitsonpublicsectorcorruption": "d4_1_public_sector",
    "limitsoncorruptioninservicedelivery": "d4_2_service_delivery",
    "equityinemployment": "d4_3_employment",
    "willingnesstofightcorruption": "d4_4_willingness",
    "publicadministrativeprocedures": "d5_procedures",
    "certificationprocedures": "d5_1_certification",
    "constructionpermits": "d5_2_construction",
    "landuserightsprocedures": "d5_3_land_rights",
    "personalprocedures": "d5_4_personal",
    "publicservicedelivery": "d6_services",
    "publichealth": "d6_1_health",
    "publicprimaryeducation": "d6_2_education",
    "basicinfrastructure": "d6_3_infrastructure",
    "lawandorder": "d6_4_law_order",
}
TOTAL_FRAGMENT = "unweighted"  # 'Un-weighted2015PAPI' (sic, on every year's sheet)
ID_COLUMNS = ("tinhid", "tentinheng", "tentinhvie")
END_CODES = {999}  # the 'Highest' row
DIMENSIONS = {c for c in COMPONENTS.values() if c.count("_") == 1}
SIX_DIMENSIONS = {"d1_participation", "d2_transparency", "d3_accountability", "d4_corruption", "d5_procedures",
                  "d6_services"}
EIGHT_FROM = 2018  # the year Environmental Governance and E-Governance arrive
TOTAL_UNTIL = 2017  # the last year a panel sheet prints the total
BOUNDS = {"overall": (6.0, 80.0), "*": (0.0, 10.0)}
DIMENSION_BOUNDS = (1.0, 10.0)


def parse(pub: PublisherFile, ctx: ParseContext) -> ParseResult:
    book = Workbook(ctx.path, ctx.label)
    registry = names.provinces(ctx.seeds_dir)
    out: list[TidyRow] = []
    warnings: list[str] = []
    try:
        for year in pub.years:
            sheet = book.find_sheet((f"{year}_PAPI",))
            rows = book.rows(sheet)
            if len(rows) < 3:
                raise LayoutError(ctx.label, "sheet has no data rows", sheet=sheet)
            english, vietnamese = rows[0], rows[1]
            keys = [names.fold(v) if v is not None else "" for v in english]
            if tuple(keys[:3]) != ID_COLUMNS:
                raise LayoutError(ctx.label, f"expected id columns {ID_COLUMNS}, found {english[:3]}",
                                  sheet=sheet, row=1)
            columns: dict[int, str] = {}
            for c, key in enumerate(keys[3:], start=3):
                if key in COMPONENTS:
                    columns[c] = COMPONENTS[key]
                elif TOTAL_FRAGMENT in key:
                    columns[c] = "overall"
                elif key:
                    warnings.append(f"{ctx.label}, sheet {sheet!r}: unexpected column {col_letter(c)} "
                                    f"({english[c]!r}) was not loaded")
            required = SIX_DIMENSIONS | ({"d7_environment", "d8_egovernance"} if year >= EIGHT_FROM else set())
            if year <= TOTAL_UNTIL:
                required |= {"overall"}
            missing = sorted(required - set(columns.values()))
            if missing:
                raise LayoutError(ctx.label, f"missing columns for {missing}", sheet=sheet, row=1)
            seen: set[str] = set()
            for r in range(2, len(rows)):
                row = rows[r]
                if row[0] is None and row[2] is None:
                    continue
                if isinstance(row[0], (int, float)) and int(row[0]) in END_CODES:
                    break
                name = row[2]
                code = registry.lookup(str(name), year)
                if code is None:
                    raise UnknownUnitError(ctx.label, str(name), registry.candidates(str(name), year),
                                           sheet=sheet, row=r + 1, year=year)
                gso = f"{int(row[0]):02d}" if isinstance(row[0], (int, float)) else str(row[0])
                if gso != code:
                    raise LayoutError(ctx.label, f"{name!r} resolves to province {code} but the sheet "
                                                 f"gives tinhid {row[0]!r}", sheet=sheet, row=r + 1)
                if code in seen:
                    raise LayoutError(ctx.label, f"{name!r} appears twice", sheet=sheet, row=r + 1)
                seen.add(code)
                dims = [row[c] for c, comp in columns.items() if comp != "overall"]
                not_scored = all(v is None for v in dims)
                for c, comp in columns.items():
                    value = row[c]
                    status = "not_scored" if not_scored else "published"
                    if not_scored:
                        value = None  # excluded from the survey that year: the 0 total is not a score
                    elif year >= EIGHT_FROM and is_no_data(value):
                        value, status = None, "no_data"  # "KCDL" or blank for one province: no data, not 0
                    elif value is None or isinstance(value, str):
                        raise LayoutError(ctx.label, f"expected a number at {col_letter(c)}{r + 1} "
                                                     f"({english[c]}), found {value!r}", sheet=sheet, row=r + 1)
                    out.append(TidyRow(
                        publication_id=pub.id, indicator=pub.indicator, level=pub.level, year=year,
                        unit_name=str(name), unit_code=code, component_code=comp,
                        component_name=str(vietnamese[c] or english[c]),
                        value=None if value is None else float(value),
                        value_status=status,
                        rank=None, tier=None, source_file=ctx.source_file,
                        source_sha256=ctx.source_sha256, sheet=sheet, cell=f"{col_letter(c)}{r + 1}",
                    ))
    finally:
        book.close()
    check_units(out, pub.units_in, ctx.label, pub.count_component)
    check_units(out, pub.units_in, ctx.label)
    check_range(out, ctx.label, BOUNDS)
    check_range([r for r in out if r.component_code in DIMENSIONS], ctx.label, {"*": DIMENSION_BOUNDS})
    return ParseResult(out, warnings)
