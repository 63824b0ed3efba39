"""A tidy bundle: the tidy long table as gzipped CSV (ingest.tidy's schema), such as the embedded
default data (data/bundle/*.csv.gz, made by this project's own parsers from the publishers'
original files) or a registered local publication (GOVWH_CATALOGUE_EXTRA, e.g. the scale
harness's synthetic one, millions of rows).

Read by DuckDB, every guard in SQL, nothing row by row in Python: exact columns, values that
parse as their types, the right publication and years, aggregate rows without a unit, unit names
that still resolve to the codes recorded (each distinct name and year resolved once, by the same
registry as every parser), and the expected number of units per year. The first offending row is
named by its line in the file.
"""
from __future__ import annotations

import gzip
import os
import re
import tempfile
import zlib
from pathlib import Path

import duckdb

from .. import names
from ..catalogue import PublisherFile
from ..config import tune
from ..errors import LayoutError, UnknownUnitError
from ..tidy import COLUMNS, DUCKDB_TYPES
from . import ParseContext, ParseResult, TableResult

_INTEGER = r"^-?[0-9]+$"
OVERFLOW = "__overflow"  # a 22nd column: holds something only on a line with a field too many
NEVER = "\\N<never a null string>"  # empty fields read as '' (a padded, missing field reads as NULL)


def _typed(column: str) -> str:
    t = DUCKDB_TYPES.get(column)
    if t is None:  # one form of Vietnamese text everywhere, as the bundle writer wrote it
        return f"nfc_normalize({column}) AS {column}"
    return f"CAST({column} AS {t}) AS {column}"


# In file order, which DuckDB keeps from the scan to the Parquet file (preserve_insertion_order, its
# default): the embedded bundles are written in ingest.tidy.sort_key's order, the order every parser's
# rows are written in, and millions of rows are not sorted again.
SELECT = f"SELECT {', '.join(_typed(c) for c in COLUMNS)} FROM raw"


def _header(ctx: ParseContext) -> list[str]:
    try:
        with gzip.open(ctx.path, "rt", encoding="utf-8", newline="") as f:
            return f.readline().rstrip("\r\n").split(",")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise LayoutError(ctx.label, f"cannot read bundle ({type(exc).__name__}: {exc})") from exc


def _duckdb_cause(exc: duckdb.Error) -> tuple[str, int | None]:
    """DuckDB's CSV errors run to many lines: keep the first, or say how many fields the line had."""
    text = str(exc)
    line = re.search(r"Line: (\d+)", text)
    found = re.search(r"Expected Number of Columns: \d+ Found: (\d+)", text)
    cause = f"{found.group(1)} fields, expected {len(COLUMNS)}" if found else text.strip().splitlines()[0]
    return f"cannot read bundle ({cause})", int(line.group(1)) if line else None


def _check_fields(con, ctx: ParseContext) -> None:
    """DuckDB takes a line with one empty field too many (a trailing comma) and pads a line with too few;
    read with one more column than the schema and no null string, either shows."""
    last = COLUMNS[-1]
    bad = con.execute(f"SELECT rowid + 2, {OVERFLOW} IS NOT NULL FROM bundle "
                      f"WHERE {OVERFLOW} IS NOT NULL OR {last} IS NULL ORDER BY rowid LIMIT 1").fetchone()
    if bad:
        raise LayoutError(ctx.label, f"cannot read bundle (a field too {'many' if bad[1] else 'few'}: "
                                     f"expected {len(COLUMNS)})", row=bad[0])


def _first(con, sql: str, params=()) -> tuple | None:
    return con.execute(sql + " ORDER BY line LIMIT 1", list(params)).fetchone()


def parse(pub: PublisherFile, ctx: ParseContext) -> ParseResult:
    label = ctx.label
    header = _header(ctx)
    if header != COLUMNS:
        raise LayoutError(label, f"columns {header} differ from the tidy schema {COLUMNS}", row=1)
    con = tune(duckdb.connect())
    try:  # beyond the memory limit DuckDB spills: into the run's scratch folder, never the working directory
        scratch = Path(ctx.scratch_dir or tempfile.gettempdir()) / f"tidy_bundle-{os.getpid()}.tmp"
        con.execute("SET temp_directory = ?", [str(scratch)])
        try:  # every column as text first, so that a bad value is named with its line, not a cast error
            con.execute(
                "CREATE TEMP TABLE bundle AS SELECT * FROM read_csv(?, header=true, columns=?, auto_detect=false, "
                "nullstr=?, null_padding=true, quote='\"', escape='\"', compression='gzip', strict_mode=true)",
                [str(ctx.path), {**{c: "VARCHAR" for c in COLUMNS}, OVERFLOW: "VARCHAR"}, NEVER])
        except duckdb.Error as exc:
            cause, line = _duckdb_cause(exc)
            raise LayoutError(ctx.label, cause, row=line) from exc
        _check_fields(con, ctx)
        # rows in file order (insertion order is kept; line 1 is the header), an empty field as NULL
        con.execute("CREATE TEMP VIEW raw AS SELECT " + ", ".join(f"nullif({c}, '') AS {c}" for c in COLUMNS)
                    + ", rowid + 2 AS line FROM bundle")
        count = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        if count == 0:
            raise LayoutError(label, "bundle holds no rows")
        _check(con, pub, ctx)
        return ParseResult(rows=[], table=TableResult(con, SELECT, count))
    except BaseException:
        con.close()
        raise


def _check(con, pub: PublisherFile, ctx: ParseContext) -> None:
    label = ctx.label
    bad = _first(con, "SELECT line FROM raw WHERE year IS NULL")
    if bad:
        raise LayoutError(label, "bad value (year is empty)", row=bad[0])
    for column, t in DUCKDB_TYPES.items():
        test = f"NOT regexp_full_match({column}, '{_INTEGER}')" if t == "INTEGER" else \
            f"TRY_CAST({column} AS {t}) IS NULL"
        bad = _first(con, f"SELECT line, {column} FROM raw WHERE {column} IS NOT NULL AND {test}")
        if bad:
            raise LayoutError(label, f"bad value ({column} = {bad[1]!r} is not {t.lower()})", row=bad[0])
    years = sorted(pub.years)
    bad = _first(con, "SELECT line, publication_id, year FROM raw "
                      "WHERE publication_id IS DISTINCT FROM ? OR NOT list_contains(?, CAST(year AS INTEGER))",
                 [pub.id, years])
    if bad:
        raise LayoutError(label, f"row belongs to {bad[1]} {bad[2]}, not {pub.id} {years}", row=bad[0])
    bad = _first(con, "SELECT line, unit_name, unit_code FROM raw WHERE row_kind = 'aggregate' AND unit_code IS NOT NULL")
    if bad:  # a published Min / Median / Max row: no unit to resolve
        raise LayoutError(label, f"aggregate row {bad[1]!r} carries unit {bad[2]}", row=bad[0])
    _check_names(con, pub, ctx)
    per_year = con.execute(
        "SELECT CAST(year AS INTEGER) AS y, count(DISTINCT unit_code) FROM raw WHERE component_code = ? "
        "AND row_kind = 'unit' AND grain = 'score' GROUP BY y ORDER BY y", [pub.count_component]).fetchall()
    for year, units in per_year:
        if units != pub.units_in(year):
            raise LayoutError(label, f"{year}: {units} units with an {pub.count_component!r} figure, "
                                     f"expected {pub.units_in(year)}")


def _check_names(con, pub: PublisherFile, ctx: ParseContext) -> None:
    """Each distinct (name, year) resolved once by the registry; every row's recorded code compared."""
    registry = names.provinces(ctx.seeds_dir)
    pairs = con.execute("SELECT DISTINCT coalesce(unit_name, ''), CAST(year AS INTEGER) FROM raw "
                        "WHERE row_kind IS DISTINCT FROM 'aggregate'").fetchall()
    codes = [registry.lookup(name, year) for name, year in pairs]
    con.execute("CREATE TEMP TABLE resolved AS SELECT unnest(?::VARCHAR[]) AS unit_name, "
                "unnest(?::INTEGER[]) AS year, unnest(?::VARCHAR[]) AS code",
                [[n for n, _ in pairs], [y for _, y in pairs], codes])
    bad = _first(con, "SELECT line, r.unit_name, r.year, r.code, raw.unit_code FROM raw JOIN resolved r "
                      "ON r.unit_name = coalesce(raw.unit_name, '') AND r.year = CAST(raw.year AS INTEGER) "
                      "WHERE raw.row_kind IS DISTINCT FROM 'aggregate' AND r.code IS DISTINCT FROM raw.unit_code")
    if bad:
        line, name, year, code, recorded = bad
        if code is None:
            raise UnknownUnitError(ctx.label, name, registry.candidates(name, year), row=line, year=year)
        raise LayoutError(ctx.label, f"{name!r} resolves to {code}, bundle says {recorded}", row=line)
