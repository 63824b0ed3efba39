"""Regenerate dbt_project/seeds/provinces.csv and province_successors.csv.

Sources (both real, both named in the seed's `seed_source` column):
* `vietnamadminunits` 1.0.4 (MIT): the 63 provinces of 2008-2025 with GSO codes, the 34 of
  2025-07-01 with their codes, and which old provinces make up each new one.
  `pip install vietnamadminunits==1.0.4` (dev only: it is not a runtime dependency).
* The UNDP PAPI workbook (../shared/sources/originals): English names as UNDP prints them.
Hà Tây (GSO 28, merged into Hà Nội on 2008-08-01) is added by hand, as are the GSO regions.

    python scripts/make_province_seeds.py [--originals DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import unicodedata
import warnings
import importlib.util
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"
REFORM_2025 = "2025-07-01"  # Resolution 202/2025/QH15
LAST_DAY_63 = "2025-06-30"
SPLIT_2004 = {"11", "12", "67", "93"}  # Điện Biên, Lai Châu, Đắk Nông, Hậu Giang: from 2004-01-01

# The GSO's six socio-economic regions, by province code (63-province era).
REGIONS = {
    ("Đồng bằng sông Hồng", "Red River Delta"):
        "01 22 26 27 28 30 31 33 34 35 36 37",
    ("Trung du và miền núi phía Bắc", "Northern Midlands and Mountains"):
        "02 04 06 08 10 11 12 14 15 17 19 20 24 25",
    ("Bắc Trung Bộ và duyên hải miền Trung", "North Central and Central Coast"):
        "38 40 42 44 45 46 48 49 51 52 54 56 58 60",
    ("Tây Nguyên", "Central Highlands"): "62 64 66 67 68",
    ("Đông Nam Bộ", "Southeast"): "70 72 74 75 77 79",
    ("Đồng bằng sông Cửu Long", "Mekong River Delta"): "80 82 83 84 86 87 89 91 92 93 94 95 96",
}
REGION_OF = {code: names for names, codes in REGIONS.items() for code in codes.split()}


def ascii_name(text: str) -> str:
    text = unicodedata.normalize("NFD", text)
    return "".join(c for c in text if unicodedata.category(c) != "Mn").replace("đ", "d").replace("Đ", "D")


def papi_english(originals: Path) -> dict[str, str]:
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(originals / "papi" / "PAPI_2011-2016.xlsx", read_only=True)
    sheet = book["2016_PAPI"]
    out = {}
    for row in sheet.iter_rows(min_row=3, values_only=True):
        if isinstance(row[0], (int, float)) and row[0] < 999:
            out[f"{int(row[0]):02d}"] = row[1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--originals", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "sources" / "originals")
    args = parser.parse_args()
    spec = importlib.util.find_spec("vietnamadminunits")  # locate the data without importing (needs shapely)
    data = Path(spec.submodule_search_locations[0]) / "data"
    legacy = json.loads((data / "parser_legacy.json").read_text())["DICT_PROVINCE"]
    new = json.loads((data / "parser_from_2025.json").read_text())["DICT_PROVINCE"]
    merged_from = json.loads((data / "converter_2025.json").read_text())["DICT_PROVINCE"]
    english = papi_english(args.originals)
    source = "vietnamadminunits 1.0.4 (MIT)"

    unchanged = {new_key for new_key, olds in merged_from.items() if olds == [new_key]}
    rows, successors = [], []
    for key, p in legacy.items():
        code = p["provinceCode"]
        region_vi, region_en = REGION_OF[code]
        rows.append(dict(
            province_key=code, province_code=code, name_vi=p["provinceShort"], official_name=p["province"],
            name_ascii=ascii_name(p["provinceShort"]), name_en=english[code], region_vi=region_vi,
            region_en=region_en, valid_from="2004-01-01" if code in SPLIT_2004 else "",
            valid_to="" if key in unchanged else LAST_DAY_63,
            era="unchanged by the 2025 reform" if key in unchanged else "until 2025-06-30",
            seed_source=f"{source}; English name as printed by UNDP PAPI"))
    rows.append(dict(
        province_key="28", province_code="28", name_vi="Hà Tây", official_name="Tỉnh Hà Tây",
        name_ascii="Ha Tay", name_en="Ha Tay", region_vi=REGION_OF["28"][0], region_en=REGION_OF["28"][1],
        valid_from="", valid_to="2008-07-31", era="before 2008-08-01",
        seed_source="GSO code list (QĐ 124/2004/QĐ-TTg); merged into Hà Nội on 2008-08-01"))
    successors.append(dict(old_key="28", new_key="01", effective_date="2008-08-01",
                           basis="Resolution 15/2008/QH12: Hà Tây merged into Hà Nội"))
    old_key_of = {k: p["provinceCode"] for k, p in legacy.items()}
    for new_key, p in new.items():
        code = p["provinceCode"]
        if new_key in unchanged:
            key = old_key_of[new_key]
        else:
            key = f"{code}-2025"
            main_region = REGION_OF[code]
            rows.append(dict(
                province_key=key, province_code=code, name_vi=p["provinceShort"], official_name=p["province"],
                name_ascii=ascii_name(p["provinceShort"]), name_en=ascii_name(p["provinceShort"]),
                region_vi=main_region[0], region_en=main_region[1], valid_from=REFORM_2025, valid_to="",
                era="from 2025-07-01", seed_source=source))
        for old in merged_from[new_key]:
            successors.append(dict(old_key=old_key_of[old], new_key=key, effective_date=REFORM_2025,
                                   basis="Resolution 202/2025/QH15" + (" (unchanged)" if old == new_key else "")))
    rows.sort(key=lambda r: (r["valid_from"] == REFORM_2025, r["province_key"]))
    successors.sort(key=lambda r: (r["effective_date"], r["old_key"]))
    for name, table in (("provinces.csv", rows), ("province_successors.csv", successors)):
        with open(SEEDS / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(table)
        print(f"wrote {len(table)} rows to {SEEDS / name}")


if __name__ == "__main__":
    main()
