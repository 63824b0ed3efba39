"""`resolve`: names in, unit keys and canonical names out, for analysts cleaning a list.

    python -m ingest resolve "TP.HCM" "Hà Tây" --year 2007
    python -m ingest resolve --csv scores.csv --column tinh
    printf 'Hanoi\\nBRVT\\n' | python -m ingest resolve
Unknown names are listed with their nearest candidates and the exit status is 1.
"""
from __future__ import annotations

import csv
import sys
from datetime import date
from pathlib import Path
from typing import Iterable, TextIO

from . import names


def read_names(args_names: list[str], csv_path: Path | None, column: str | None, stdin: TextIO) -> list[str]:
    if csv_path is not None:
        with open(csv_path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if column not in (reader.fieldnames or []):
                raise SystemExit(f"error: column {column!r} not in {csv_path} (columns: {reader.fieldnames})")
            return [row[column] for row in reader]
    if args_names:
        return args_names
    return [line.rstrip("\n") for line in stdin if line.strip()]


def resolve_names(items: Iterable[str], level: str, when: int | date | None, out: TextIO, err: TextIO) -> int:
    registry = names.registry(level)
    unknown = 0
    seen: set[str] = set()
    out.write("name\tkey\tcanonical_name\n")
    for name in items:
        key = registry.lookup(name, when)
        if key is None:
            if name not in seen:
                scope = f" in {when}" if when else ""
                err.write(f"unknown {level}{scope}: {name!r}; nearest: {', '.join(registry.candidates(name, when))}\n")
            unknown += 1
            out.write(f"{name}\t\t\n")
        else:
            out.write(f"{name}\t{key}\t{registry.name_of(key)}\n")
        seen.add(name)
    if unknown:
        err.write(f"{unknown} name(s) not resolved\n")
    return 1 if unknown else 0


def main(args) -> int:
    when: int | date | None = None
    if args.date:
        when = date.fromisoformat(args.date)
    elif args.year:
        when = args.year
    items = read_names(args.names, args.csv, args.column, sys.stdin)
    return resolve_names(items, args.level, when, sys.stdout, sys.stderr)
