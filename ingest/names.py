"""Unit name resolution: from a name as some publisher spelt it to a unit key.

Match on a folded key (Unicode NFD, diacritics and Đ/đ folded, case, punctuation, hyphens
and, for provinces, prefixes such as "TP.", "Thành phố", "Tỉnh" removed) plus an alias
table, scoped by the date or year a unit existed (Hà Tây only before 2008-08-01; the 34
provinces from 2025-07-01). An unknown name is an error with the nearest candidates (rapidfuzz),
never a guess. The unit lists and aliases are dbt seeds, so Python and SQL read the same files.
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

PROVINCE_PREFIXES = ("thanhpho", "tinh", "tp")
LOCAL_PREFIXES = ("thanhpho", "thixa", "huyen", "tx", "tp", "villede", "districtde")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Fold a label to a comparison key: no diacritics, no case, no punctuation or spaces.

    NFD first, so composed and decomposed input, and the two tone-mark placements
    ("Hòa" / "Hoà"), all fold to the same key; Đ/đ is a letter of its own and is mapped by hand.
    """
    text = unicodedata.normalize("NFD", str(text))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = text.replace("đ", "d").replace("Đ", "D").lower()
    return _NON_ALNUM.sub("", text)


def strip_prefix(key: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if key.startswith(prefix) and len(key) > len(prefix) + 2:
            return key[len(prefix):]
    return key


def unit_key(name: str) -> str:
    """A province name's folded key, without the administrative prefix publishers add or drop."""
    return strip_prefix(fold(name), PROVINCE_PREFIXES)


@dataclass(frozen=True)
class Unit:
    key: str
    name: str
    valid_from: date | None
    valid_to: date | None

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)

    def valid_in(self, year: int) -> bool:
        return self.valid_on(date(year, 12, 31)) or self.valid_on(date(year, 1, 1)) or (
            self.valid_from is not None and self.valid_from.year == year)


def _date(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


class UnitRegistry:
    """Names -> unit keys, for one kind of unit (provinces or ministries)."""

    def __init__(self, kind: str, units: list[Unit], aliases: list[tuple[str, str]],
                 prefixes: tuple[str, ...] = ()):
        self.kind = kind
        self.prefixes = prefixes
        self.units = {u.key: u for u in units}
        self._by_key: dict[str, set[str]] = {}
        for alias, key in aliases:  # one name may mean several units, told apart by date
            if key not in self.units:
                raise ValueError(f"{kind} alias {alias!r} points at unknown key {key!r}")
            self._by_key.setdefault(self.key_of(alias), set()).add(key)
        self._choices = {f"{u.name} ({u.key})": self.key_of(u.name) for u in units}

    def folded_names(self) -> dict[str, set[str]]:
        """Every name and alias as its folded key -> the unit keys it can mean (at some date)."""
        return {key: set(units) for key, units in self._by_key.items()}

    def key_of(self, name: str) -> str:
        return strip_prefix(fold(name), self.prefixes)

    def lookup(self, name: str, when: int | date | None = None) -> str | None:
        """The unit a name means at a date, or in a year (a unit that existed at some point
        of that year; where two did, the one that existed at its end). Without a date: the unit
        of that name that exists today, else the only one there ever was. None if unknown."""
        keys = sorted(self._by_key.get(self.key_of(name), set()))
        if when is None:
            valid = [k for k in keys if self.units[k].valid_on(date.today())] or keys
        elif isinstance(when, date):
            valid = [k for k in keys if self.units[k].valid_on(when)]
        else:
            valid = [k for k in keys if self.units[k].valid_in(when)]
            if len(valid) > 1:
                valid = [k for k in valid if self.units[k].valid_on(date(when, 12, 31))]
        if len(valid) == 1:
            return valid[0]
        if len(valid) > 1:  # seeds that make one name mean two units at once are a bug
            raise ValueError(f"{self.kind} name {name!r} is ambiguous at {when}: {valid}")
        return None

    def candidates(self, name: str, when: int | date | None = None, limit: int = 3) -> list[str]:
        """The nearest names (rapidfuzz), among the units that existed then when a year or date is given."""
        choices = self._choices
        if when is not None:
            valid = {k for k, u in self.units.items()
                     if (u.valid_on(when) if isinstance(when, date) else u.valid_in(when))}
            choices = {label: key for label, key in self._choices.items() if label.rsplit("(", 1)[1][:-1] in valid}
        hits = process.extract(self.key_of(name), choices or self._choices, scorer=fuzz.WRatio, limit=limit)
        return [label for _key, _score, label in hits]

    def name_of(self, key: str) -> str:
        return self.units[key].name


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=4)
def provinces(seeds_dir: Path = SEEDS_DIR) -> UnitRegistry:
    rows = _read(seeds_dir / "provinces.csv")
    units = [Unit(r["province_key"], r["name_vi"], _date(r["valid_from"]), _date(r["valid_to"])) for r in rows]
    # every official, short, ASCII and English name is an alias of its own unit
    aliases = [(r[col], r["province_key"]) for r in rows for col in ("name_vi", "official_name", "name_ascii", "name_en")]
    aliases += [(r["alias"], r["province_key"]) for r in _read(seeds_dir / "province_aliases.csv")]
    return UnitRegistry("province", units, aliases, PROVINCE_PREFIXES)


@lru_cache(maxsize=4)
def ministries(seeds_dir: Path = SEEDS_DIR) -> UnitRegistry:
    rows = _read(seeds_dir / "ministries.csv")
    units = [Unit(r["ministry_key"], r["name_vi"], _date(r["valid_from"]), _date(r["valid_to"])) for r in rows]
    aliases = [(r[col], r["ministry_key"]) for r in rows for col in ("name_vi", "name_en", "ministry_key")]
    aliases += [(r["alias"], r["ministry_key"]) for r in _read(seeds_dir / "ministry_aliases.csv")]
    return UnitRegistry("ministry", units, aliases)


@lru_cache(maxsize=4)
def local_units(seeds_dir: Path = SEEDS_DIR) -> UnitRegistry:
    """Departments and districts ranked by provincial indices (DDCI)."""
    rows = _read(seeds_dir / "local_units.csv")
    units = [Unit(r["unit_key"], r["name_vi"], _date(r["valid_from"]), _date(r["valid_to"])) for r in rows]
    aliases = [(r["name_vi"], r["unit_key"]) for r in rows]
    aliases += [(r["alias"], r["unit_key"]) for r in _read(seeds_dir / "local_unit_aliases.csv")]
    return UnitRegistry("local unit", units, aliases, LOCAL_PREFIXES)


def registry(level: str, seeds_dir: Path = SEEDS_DIR) -> UnitRegistry:
    if level == "province":
        return provinces(seeds_dir)
    if level == "ministry":
        return ministries(seeds_dir)
    if level in ("district", "department"):
        return local_units(seeds_dir)
    raise ValueError(f"no unit registry for level {level!r}")
