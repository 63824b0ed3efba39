"""Write seeds/subindicators.csv and seeds/subindicator_crosswalk.csv from the original workbooks.

    python scripts/make_subindicator_seeds.py [--originals ../shared/sources/originals]

A sub-indicator is a survey indicator below a sub-index (PCI) or a dimension (PAPI). Its code
is stable across years where the publisher's column header is the same (compared on the folded
header: case, spaces, punctuation and diacritics ignored); a reworded header gets a new code,
because a changed question is a different measure. Codes are numbered per parent in order of
first appearance (pci 2017 first). The unit of measure is read from the header ('(%)', 'days',
'1=...; 5=...', 'Number of') and, where the header says nothing, from the values (all in
[0, 1]: a share); unit_basis says which. Re-running on the same originals gives the same files.
Review the diff before committing: the parsers refuse any column the crosswalk does not list.
"""
from __future__ import annotations

import argparse
import csv
import sys
import warnings
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest import catalogue  # noqa: E402
from ingest.crosswalk import PCI_PREFIX, item_name, numbers, unit_of  # noqa: E402
from ingest.names import fold  # noqa: E402
from ingest.parsers import undp_papi_2019, undp_papi_full, vcci_pci_en  # noqa: E402

SEEDS = ROOT / "dbt_project" / "seeds"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--originals", type=Path, default=ROOT.parent / "shared" / "sources" / "originals")
    ap.add_argument("--catalogue", type=Path, default=catalogue.CATALOGUE_DIR,
                    help="the folder of family declarations whose files are read (default: catalogue/)")
    ap.add_argument("--seeds", type=Path, default=SEEDS, help="where the two seed files are written")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    items: dict[tuple, dict] = {}  # (indicator, parent, folded header, occurrence) -> item
    crosswalk: list[dict] = []
    counters: dict[tuple[str, str], int] = {}

    seen: dict[tuple, int] = {}

    def register(indicator, parent, prefix, year, sheet, header, values):
        # the same header can head several columns of one sheet (PAPI 2018 asks "satisfaction with the
        # service (5 points)" after each of four procedures): the n-th such column is its own question
        n_seen = seen[(indicator, year, sheet, fold(header))] = seen.get((indicator, year, sheet, fold(header)), 0) + 1
        key = (indicator, parent, fold(header), n_seen)
        if key not in items:
            n = counters[(indicator, parent)] = counters.get((indicator, parent), 0) + 1
            unit, basis = unit_of(header, values)
            items[key] = {"indicator": indicator, "subindicator_code": f"{indicator}_{prefix}_{n:02d}",
                          "parent_code": parent, "name_en": item_name(header), "unit_of_measure": unit,
                          "unit_basis": basis, "direction": "", "years": set()}
        item = items[key]
        item["years"].add(year)
        crosswalk.append({"indicator": indicator, "year": year, "sheet": sheet, "column_header": header,
                          "occurrence": n_seen, "subindicator_code": item["subindicator_code"]})

    def read_pci_en(pub, path):
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        for sheet, parent in vcci_pci_en.SUBINDEX_SHEETS.items():
            rows = [list(r) for r in book[sheet].iter_rows(values_only=True)]
            for c in range(2, len(rows[0])):
                if rows[0][c] is not None:
                    register("pci", parent, PCI_PREFIX[parent], pub.year, sheet, str(rows[0][c]).strip(),
                             numbers(rows, c))
        book.close()

    def read_papi(module):
        def read(pub, path):
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            rows = [list(r) for r in book[module.SHEET].iter_rows(values_only=True)]
            book.close()
            for c, parent in module.layout(rows[0])["items"]:
                register("papi", parent, parent.split("_")[0], pub.year, module.SHEET, str(rows[0][c]).strip(),
                         numbers(rows, c))
        return read

    # The files that carry sub-indicators, as the families declare them (catalogue/*.yml), read in a
    # fixed order so that codes keep their numbers: the English files first (PCI, then PAPI 2019 on),
    # then PAPI 2018's Vietnamese headers (codes of their own, not matched to 2019's English ones).
    readers = {"vcci_pci_en": (0, read_pci_en), "undp_papi_2019": (1, read_papi(undp_papi_2019)),
               "undp_papi_full": (2, read_papi(undp_papi_full))}
    pubs = sorted((p for p in catalogue.declared(args.catalogue) if p.parser in readers),
                  key=lambda p: (readers[p.parser][0], p.year))
    for pub in pubs:
        readers[pub.parser][1](pub, args.originals / pub.original_relpath)

    with open(args.seeds / "subindicators.csv", "w", encoding="utf-8", newline="") as f:
        fields = ["indicator", "subindicator_code", "parent_code", "name_en", "unit_of_measure", "unit_basis",
                  "direction", "first_year", "last_year"]
        w = csv.DictWriter(f, fields, lineterminator="\n")
        w.writeheader()
        for item in sorted(items.values(), key=lambda d: d["subindicator_code"]):
            w.writerow({**{k: item[k] for k in fields[:-2]}, "first_year": min(item["years"]),
                        "last_year": max(item["years"])})
    with open(args.seeds / "subindicator_crosswalk.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["indicator", "year", "sheet", "column_header", "occurrence", "subindicator_code"],
                           lineterminator="\n")
        w.writeheader()
        w.writerows(crosswalk)
    print(f"{len(items)} sub-indicators, {len(crosswalk)} crosswalk rows -> {args.seeds}")


if __name__ == "__main__":
    main()
