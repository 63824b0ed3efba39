"""Unit name resolution: from a name as some publisher spelt it to a GSO province code.

Match on a folded key (Unicode NFD, diacritics and Đ/đ folded, case, punctuation, hyphens
and prefixes such as "TP.", "Thành phố", "Tỉnh" removed) plus an alias table, scoped by the
year a unit existed. An unknown name is an error with the nearest candidates, never a guess.
The province list and the aliases are dbt seeds, so Python and SQL read the same files.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process

from .config import SEEDS_DIR

_PREFIXES = ("thanhpho", "tinh", "tp")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Fold a label to a comparison key: no diacritics, no case, no punctuation or spaces."""
    text = unicodedata.normalize("NFD", str(text))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = text.replace("đ", "d").replace("Đ", "D").lower()
    return _NON_ALNUM.sub("", text)


def unit_key(name: str) -> str:
    """fold() plus the administrative prefixes that publishers add or drop."""
    key = fold(name)
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix) + 2:
            return key[len(prefix):]
    return key


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    valid_from: date | None
    valid_to: date | None

    def valid_in(self, year: int | None) -> bool:
        if year is None:
            return True
        if self.valid_from and self.valid_from.year > year:
            return False
        if self.valid_to and self.valid_to.year < year:
            return False
        return True


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


class UnitRegistry:
    def __init__(self, units: list[Unit], aliases: dict[str, str]):
        self.units = {u.code: u for u in units}
        self._by_key: dict[str, set[str]] = {}
        for u in units:
            self._add(unit_key(u.name), u.code)
        for alias, code in aliases.items():
            if code not in self.units:
                raise ValueError(f"alias {alias!r} points at unknown code {code!r}")
            self._add(unit_key(alias), code)
        self._choices = {f"{u.name} ({u.code})": unit_key(u.name) for u in units}

    def _add(self, key: str, code: str) -> None:
        self._by_key.setdefault(key, set()).add(code)

    def lookup(self, name: str, year: int | None = None) -> str | None:
        codes = self._by_key.get(unit_key(name), set())
        valid = sorted(c for c in codes if self.units[c].valid_in(year))
        if len(valid) == 1:
            return valid[0]
        if len(valid) > 1:  # an alias table that makes a name ambiguous is a bug in the seeds
            raise ValueError(f"name {name!r} is ambiguous in {year}: {valid}")
        return None

    def candidates(self, name: str, limit: int = 3) -> list[str]:
        hits = process.extract(unit_key(name), self._choices, scorer=fuzz.WRatio, limit=limit)
        return [label for _key, _score, label in hits]

    def name_of(self, code: str) -> str:
        return self.units[code].name


@lru_cache(maxsize=1)
def provinces(seeds_dir: Path = SEEDS_DIR) -> UnitRegistry:
    with open(seeds_dir / "provinces.csv", encoding="utf-8") as f:
        units = [Unit(r["province_code"], r["name_vi"], _date(r["valid_from"]), _date(r["valid_to"]))
                 for r in csv.DictReader(f)]
    with open(seeds_dir / "province_aliases.csv", encoding="utf-8") as f:
        aliases = {r["alias"]: r["province_code"] for r in csv.DictReader(f)}
    # Official names and ASCII names are aliases too.
    with open(seeds_dir / "provinces.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            aliases.setdefault(r["official_name"], r["province_code"])
            aliases.setdefault(r["name_ascii"], r["province_code"])
    return UnitRegistry(units, aliases)
