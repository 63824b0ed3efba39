"""A tidy bundle: the tidy long table as gzipped CSV (ingest.tidy's schema), such as the embedded
default data (data/bundle/*.csv.gz, made by this project's own parsers from the publishers'
original files) or a registered local publication (GOVWH_CATALOGUE_EXTRA, e.g. the scale
harness's synthetic one, millions of rows).

Read by DuckDB, every guard in SQL, nothing row by row in Python: exact columns, values that
parse as their types, the right publication and years, aggregate rows without a unit, unit names
that still resolve to the codes recorded (each distinct name and year resolved once, by the same
registry as every parser), and the expected number of units per year. The first offending row is
named by its line in the file.

Before DuckDB sees the file, it is inflated once as a stream and counted, never held: a bundle that
inflates beyond MAX_INFLATED bytes, or at a ratio above the workbooks' MAX_RATIO (a decompression
bomb), is refused there, as is a first line too long to be the header. Errors quote the file's text
only where a guard names a value, a few dozen characters of it; never raw bytes.
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
from ..excel import MAX_RATIO
from ..tidy import COLUMNS, DUCKDB_TYPES
from . import ParseContext, ParseResult, TableResult

_INTEGER = r"^-?[0-9]+$"
OVERFLOW = "__overflow"  # a 22nd column: holds something only on a line with a field too many
NEVER = "\\N<never a null string>"  # empty fields read as '' (a padded, missing field reads as NULL)

# A bundle whose CSV inflates to more than this, or at a ratio above the workbooks' MAX_RATIO (200;
# CSV text compresses 15-20x), is refused before DuckDB reads it (a decompression bomb). Workbooks
# stop at 400 MiB (excel.MAX_UNPACKED); a bundle may be larger: the scale harness's at 100x today's
# data (bench/scale.py) inflates to ~1.8 GB, and DuckDB reads it within its memory limit, spilling.
MAX_INFLATED = 4 * 1024 ** 3
MAX_HEADER = 4096  # bytes: the tidy schema's header is 250
INFLATE_CHUNK = 1 << 20
SHOWN = 60  # characters of a value quoted in an error


def _typed(column: str) -> str:
    t = DUCKDB_TYPES.get(column)
    if t is None:  # one form of Vietnamese text everywhere, as the bundle writer wrote it
        return f"nfc_normalize({column}) AS {column}"
    return f"CAST({column} AS {t}) AS {column}"


# In file order, which DuckDB keeps from the scan to the Parquet file (preserve_insertion_order, its
# default): the embedded bundles are written in ingest.tidy.sort_key's order, the order every parser's
# rows are written in, and millions of rows are not sorted again.
SELECT = f"SELECT {', '.join(_typed(c) for c in COLUMNS)} FROM raw"


def _clip(value, width: int = SHOWN) -> str:
    """A value of the file as an error quotes it: at most `width` characters, a longer one cut with "…"."""
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _shown(value) -> str:
    return repr(_clip(value)) if value is not None else "NULL"


def _gzip_cause(exc: BaseException) -> str:
    """Why the gzip stream cannot be read, in words: never the bytes found (gzip's own message for a
    file that is not gzip quotes its first two, e.g. those of /etc/passwd)."""
    if isinstance(exc, EOFError):
        return "unexpected end of GZIP stream: the file is truncated"
    if isinstance(exc, gzip.BadGzipFile):
        text = str(exc)
        if text.startswith("Not a gzipped file"):
            return "not a gzip file"
        return f"corrupt gzip data: {re.sub(r'[(].*', '', text).strip()}"[:120]
    if isinstance(exc, zlib.error):
        return f"corrupt gzip data ({str(exc)[:120]})"
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or 'cannot be read'}"


def _inflate_check(ctx: ParseContext) -> bytes:
    """Inflate the file as a stream, counting (1 MiB at a time, nothing kept but the first line's bytes):
    refuse it past MAX_INFLATED or past MAX_RATIO times its own size, before DuckDB reads any of it.
    Returns the start of the file (at most MAX_HEADER bytes), which holds the header."""
    packed = max(os.path.getsize(ctx.path), 1)
    limit = min(MAX_INFLATED, MAX_RATIO * packed)
    head, size = b"", 0
    try:
        with gzip.open(ctx.path, "rb") as f:
            while chunk := f.read(INFLATE_CHUNK):
                if len(head) < MAX_HEADER:
                    head += chunk[: MAX_HEADER - len(head)]
                size += len(chunk)
                if size > limit:
                    cap = (f"{MAX_INFLATED:,} bytes, the cap on a bundle's inflated size" if limit == MAX_INFLATED
                           else f"{limit:,} bytes from {packed:,}: over the cap of {MAX_RATIO} times its size")
                    raise LayoutError(ctx.label, f"refused: the bundle inflates to more than {cap} (a "
                                                 "decompression bomb?); inflating stopped there, nothing of it "
                                                 "was loaded")
    except (OSError, EOFError, zlib.error) as exc:
        raise LayoutError(ctx.label, f"cannot read bundle ({_gzip_cause(exc)})") from exc
    return head


def _header(ctx: ParseContext, head: bytes) -> list[str]:
    """The first line's fields; a first line over MAX_HEADER bytes is not the header (and is not read)."""
    end = head.find(b"\n")
    if end < 0 and len(head) >= MAX_HEADER:
        raise LayoutError(ctx.label, f"the first line runs over {MAX_HEADER:,} bytes: not the tidy schema's "
                                     f"header ({len(COLUMNS)} column names)", row=1)
    line = head if end < 0 else head[:end]
    try:
        return line.decode("utf-8").rstrip("\r").split(",")
    except UnicodeDecodeError as exc:
        raise LayoutError(ctx.label, f"cannot read bundle (not UTF-8 at byte {exc.start:,})", row=1) from exc


def _header_cause(header: list[str]) -> str:
    """How a header differs from the tidy schema: the columns out of place and the first difference."""
    wrong = [(i, got, want) for i, (got, want) in enumerate(zip(header, COLUMNS), start=1) if got != want]
    shown = [_clip(got, 40) for _, got, _ in wrong[:3]] + [_clip(c, 40) for c in header[len(COLUMNS):][:3]]
    cause = f"columns {shown} differ from the tidy schema"
    if wrong:
        i, got, want = wrong[0]
        cause += f" (column {i} is {_shown(got)}, expected {want!r})"
    if len(header) != len(COLUMNS):
        cause += f" ({len(header)} columns, expected {len(COLUMNS)})"
    return cause


def _duckdb_cause(exc: duckdb.Error) -> tuple[str, int | None]:
    """DuckDB's CSV errors run to many lines: keep the first, or say how many fields the line had."""
    text = str(exc)[:100_000]  # its "Original Line:" quotes the offending line, which is never shown
    line = re.search(r"Line: (\d+)", text)
    found = re.search(r"Expected Number of Columns: \d+ Found: (\d+)", text)
    if found:
        cause = f"{found.group(1)} fields, expected {len(COLUMNS)}"
    else:
        lines = [t.strip() for t in text.strip().splitlines() if t.strip()]
        said = [t for t in lines[1:3] if not t.startswith("Original Line")]  # DuckDB's words after its header
        cause = said[0] if line and said else (lines[0] if lines else type(exc).__name__)
    return f"cannot read bundle ({_clip(cause, 160)})", int(line.group(1)) if line else None


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
    header = _header(ctx, _inflate_check(ctx))
    if header != COLUMNS:
        raise LayoutError(label, _header_cause(header), row=1)
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
        test = f"TRY_CAST({column} AS {t}) IS NULL"
        if t == "INTEGER":  # digits only ('1.0' would cast), and in INTEGER's range (12 digits would not)
            test = f"(NOT regexp_full_match({column}, '{_INTEGER}') OR {test})"
        bad = _first(con, f"SELECT line, {column} FROM raw WHERE {column} IS NOT NULL AND {test}")
        if bad:
            raise LayoutError(label, f"bad value ({column} = {_shown(bad[1])} is not {t.lower()})", row=bad[0])
    years = sorted(pub.years)
    bad = _first(con, "SELECT line, publication_id, year FROM raw "
                      "WHERE publication_id IS DISTINCT FROM ? OR NOT list_contains(?, CAST(year AS INTEGER))",
                 [pub.id, years])
    if bad:
        raise LayoutError(label, f"row belongs to {_clip(bad[1])} {_clip(bad[2])}, not {pub.id} {years}", row=bad[0])
    bad = _first(con, "SELECT line, unit_name, unit_code FROM raw WHERE row_kind = 'aggregate' AND unit_code IS NOT NULL")
    if bad:  # a published Min / Median / Max row: no unit to resolve
        raise LayoutError(label, f"aggregate row {_shown(bad[1])} carries unit {_clip(bad[2])}", row=bad[0])
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
            raise UnknownUnitError(ctx.label, _clip(name), registry.candidates(name, year), row=line, year=year)
        raise LayoutError(ctx.label, f"{_shown(name)} resolves to {code}, bundle says {_clip(recorded)}", row=line)
