"""Exports of every mart from the serving warehouse, for people who do not query databases:

    <exports>/parquet/<table>.parquet  every table of the marts schema
    <exports>/csv/<table>.csv          every table; UTF-8 with a byte-order mark, so Excel shows Vietnamese right
    <exports>/governance_marts.xlsx    one sheet per dimension and mart, a sheet of sources and one
                                       describing every column (`columns`)
    <exports>/datapackage.json         the CSV files' schema (Frictionless Tabular Data Package): types,
                                       descriptions, required columns, primary and foreign keys
    <exports>/governance_facts.xlsx    the four large fact tables (fct_*, about 4 million cells), only on
                                       request (`govwh export --xlsx-facts`, DAG param `xlsx_facts`)

The workbooks are written by XlsxWriter in its constant-memory mode (about 250,000 cells a
second here, 2.5x openpyxl); the fact tables stay out of the default workbook because writing
them took 40 s of every night for a file few open, while their CSV takes 2 s.
Written to a temporary folder (`exports.incoming`) and swapped in whole, so a reader never sees
half an export; a failed export removes its folder and leaves the previous exports as they were,
and the next export removes one that a killed run left behind (`staged`, also used by the report).
A full disk or a read-only folder ends as one line naming the file being written.

Text that a spreadsheet would run as a formula (a cell starting with =, +, -, @, a tab or a
carriage return, as OWASP's CSV-injection guidance lists) is neutralised with a leading
apostrophe in the CSV and XLSX files; numbers are written as numbers, untouched, and every
text cell of the XLSX is written as a string (`write_string`), so nothing in it can become a formula.
Invisible characters in text (control codes, bidirectional overrides such as U+202E, zero-width
spaces: ingest/safetext.py) are written escaped, `\u202e`, in the CSV and XLSX files; the Parquet
files, for programs, keep every value as the warehouse holds it.

The CSV files are written by DuckDB (COPY, about 1 s for all of them against 6 s row by row in
Python): the escaping rule stays Python's own (safetext.escape), applied to the few distinct values
that may hold a hidden character (MAYBE_HIDDEN) and looked up from SQL; the neutralising is the
same test in SQL. Cells read as Python's csv module wrote them (True/False, CRLF line ends; a test
compares both writers on every mart).
"""
from __future__ import annotations

import datetime as dt
import errno
import gc
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import duckdb

from .config import Settings, tune
from .errors import PipelineError, from_os_error
from .faults import failpoint
from .fsutil import replace_dir
from .publish import quote_ident
from .safetext import escape

log = logging.getLogger(__name__)

XLSX_NAME = "governance_marts.xlsx"
FACTS_XLSX_NAME = "governance_facts.xlsx"
FACT_PREFIX = "fct_"  # the large fact tables: Parquet and CSV always, XLSX on request
EXCEL_MAX_ROWS = 1_048_575
SAFE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
# Characters that can never be hidden (safetext.is_hidden is False for each: a test checks every one):
# tab, line feed, printable ASCII, Latin-1 but the soft hyphen, Latin Extended-A/B, the combining
# diacritics and Latin Extended Additional, which is all Vietnamese text needs. A value with any
# other character goes through safetext.escape (most come back unchanged: en dashes, CJK, ...).
NEVER_HIDDEN_RANGES = ((0x09, 0x0A), (0x20, 0x7E), (0xA0, 0xAC), (0xAE, 0x24F), (0x300, 0x36F), (0x1E00, 0x1EFF))
MAYBE_HIDDEN = "[^" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in NEVER_HIDDEN_RANGES) + "]"  # RE2 syntax


def exports_dir(settings: Settings) -> Path:
    return settings.data_dir / "exports"


def marts(con) -> list[str]:
    return [r[0] for r in con.execute("select table_name from information_schema.tables "
                                      "where table_schema = 'marts' order by table_name").fetchall()]


def describe(con, catalog: str = "serving") -> dict[str, dict]:
    """Each mart as the serving file describes it (dbt's docs, written there as comments, and the
    keys dbt declared, with the fact tables' keys from the manifest published beside it):
    {table: {description, columns: [(name, type, not_null, description)], primary: [cols],
    foreign: [(cols, table, cols)]}}."""
    from .publish import published_manifest, table_keys

    (path,) = con.execute("select path from duckdb_databases() where database_name = ?", [catalog]).fetchone()
    keys = table_keys(con, catalog, "marts", published_manifest(Path(path)))
    out = {}
    for table, comment in con.execute("select table_name, coalesce(comment, '') from duckdb_tables() where "
                                      "database_name = ? and schema_name = 'marts' order by 1", [catalog]).fetchall():
        columns = con.execute("select column_name, data_type, not is_nullable, coalesce(comment, '') from duckdb_columns() "
                              "where database_name = ? and schema_name = 'marts' and table_name = ? order by column_index",
                              [catalog, table]).fetchall()
        out[table] = {"description": comment, "columns": columns, **keys.get(table, {"primary": [], "foreign": []})}
    return out


def _field_type(duckdb_type: str) -> str:
    """A DuckDB type as a Table Schema type (https://specs.frictionlessdata.io/table-schema/)."""
    if duckdb_type in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"):
        return "integer"
    if duckdb_type in ("DOUBLE", "FLOAT", "REAL") or duckdb_type.startswith("DECIMAL"):
        return "number"
    return {"BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "datetime",
            "TIMESTAMP WITH TIME ZONE": "datetime"}.get(duckdb_type, "string")


def data_package(described: dict[str, dict], publications: list[tuple] = ()) -> dict:
    """datapackage.json (a Frictionless Tabular Data Package) for the CSV files: each column's type,
    so that a reader keeps province code "01" as text, its description, NOT NULL, and the keys; the
    publications as its sources and their terms as its licences (publications: dim_publication's
    publisher, title, citation URL and licence)."""
    resources = []
    for table, d in described.items():
        fields = []
        for name, kind, not_null, text in d["columns"]:
            field = {"name": name, "type": _field_type(kind), "description": text}
            if kind.endswith("[]"):
                field["description"] = (text + " " if text else "") + "(a list, written as [a, b])"
            if not_null:
                field["constraints"] = {"required": True}
            fields.append(field)
        schema = {"fields": fields, "missingValues": [""]}
        if d["primary"]:
            schema["primaryKey"] = d["primary"]
        if d["foreign"]:
            schema["foreignKeys"] = [{"fields": cols, "reference": {"resource": ref, "fields": ref_cols}}
                                     for cols, ref, ref_cols in d["foreign"]]
        resources.append({"name": table, "path": f"csv/{table}.csv", "profile": "tabular-data-resource",
                          "format": "csv", "mediatype": "text/csv", "encoding": "utf-8-sig",
                          "description": d["description"],
                          "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "header": True},
                          "schema": schema})
    return {"profile": "tabular-data-package", "name": "vietnam-governance-indicators",
            "title": "Vietnam's public-governance indicators (PCI, PAPI, PAR INDEX, SIPAS): the warehouse's marts",
            "description": ("Every mart of the serving warehouse as CSV (UTF-8 with a byte-order mark). A text cell "
                            "that a spreadsheet would run as a formula starts with an apostrophe; invisible "
                            "characters are written escaped (\\u202e). The Parquet files hold the same rows, "
                            "unescaped, with these descriptions in their key-value metadata."),
            "licenses": [{"name": "other-at", "title": text}  # attribution terms, as the catalogue states them
                         for text in sorted({licence for *_rest, licence in publications if licence})],
            "sources": [{"title": f"{publisher}: {title}", "path": url} for publisher, title, url, _l in publications],
            "resources": resources}


def neutralise(value):
    """A text cell a spreadsheet would evaluate gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def text_cell(value):
    """A value as a CSV or XLSX cell shows it: text with invisible characters escaped
    (ingest/safetext.py), then neutralised; other values pass."""
    if isinstance(value, str):
        return neutralise(escape(value))
    return value


# ------------------------------------------------------------------ a folder written aside, swapped in whole
def _remove(path: Path) -> None:
    """Whatever is at path (a folder, a file, a link) is removed; nothing there is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _release(exc: BaseException) -> None:
    """Let go of what the failed calls still hold: xlsxwriter's ZipFile, left open when writing it
    failed, would otherwise print "Exception ignored in ZipFile.__del__" with a traceback on stderr
    when it is collected (it flushes to the full disk again). Collected here, quietly, into the log."""
    def quiet(unraisable):
        log.debug("ignored while cleaning up after a failed write: %r", unraisable.exc_value)

    hook, sys.unraisablehook = sys.unraisablehook, quiet
    try:
        seen, pending = set(), [exc]
        while pending:
            e = pending.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            traceback.clear_frames(e.__traceback__)  # finished frames only; running ones are skipped
            pending += [e.__cause__, e.__context__, *(a for a in e.args if isinstance(a, BaseException))]
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _as_shown(path, staging: Path, target: Path) -> Path | None:
    """A path inside the staging folder, named as it would be once swapped in."""
    if path is None:
        return None
    path = Path(path)
    try:
        return target / path.relative_to(staging)
    except ValueError:
        return path


@contextmanager
def staged(target: Path, doing: str, writing=lambda: None):
    """A fresh `<target>.incoming` folder for the body to fill, swapped in whole for target when the
    body succeeds (fsutil.replace_dir). One left by a killed run is removed first. When the body
    fails the folder is removed and target stays as it was; an OSError (a full disk, a read-only
    folder) becomes one line naming the file being written (`writing()`), as it would be named under
    target. `doing` says what was under way ("exporting the marts")."""
    staging = target.with_name(target.name + ".incoming")
    try:
        if staging.exists() or staging.is_symlink():
            _remove(staging)
            log.info("removed %s, left by an interrupted run", staging)
    except OSError as exc:
        raise from_os_error(exc, f"removing {staging.name}, left by an interrupted run") from exc
    try:
        staging.mkdir(parents=True)
        yield staging
    except BaseException as exc:
        _release(exc)
        try:
            _remove(staging)
        except OSError:
            log.warning("could not remove %s after a failed write", staging, exc_info=True)
        if isinstance(exc, OSError):
            # the file being written; shutil.copyfile's error names its source first, its target second
            shown = _as_shown(writing() or exc.filename2 or exc.filename, staging, target)
            raise from_os_error(OSError(exc.errno, exc.strerror or str(exc), str(shown) if shown else None),
                                doing, shown) from exc
        raise
    try:
        replace_dir(staging, target)
    except OSError as exc:
        if target.exists():  # else the new folder is the only copy left: it stays until the next run
            shutil.rmtree(staging, ignore_errors=True)
        raise from_os_error(exc, f"putting the new {target.name} in place") from exc


def _csv_cells(con, table: str, columns: list[str], types: list[str]) -> list[str]:
    """The SQL of each column as its CSV cell: text escaped (safetext's own rule, applied in Python
    to the distinct values that may need it, found by one scan of the table, and looked up from the
    temporary table _shown) and neutralised, booleans as Python writes them; other values as DuckDB
    writes them (the same text as Python's str())."""
    text = [f"t.{quote_ident(c)}" for c, kind in zip(columns, types) if kind == "VARCHAR"]
    changed = []
    if text:
        rows = con.execute(f"select distinct v from (select unnest([{', '.join(text)}]) as v from {table} t) "
                           "where regexp_matches(v, ?)", [MAYBE_HIDDEN]).fetchall()
        changed = [(v, escape(v)) for (v,) in rows if escape(v) != v]
    if changed:
        con.execute("create or replace temporary table _shown (original varchar primary key, shown varchar)").fetchall()
        con.executemany("insert into _shown values (?, ?)", changed)
    cells = []
    for column, kind in zip(columns, types):
        ref = f"t.{quote_ident(column)}"
        if kind == "BOOLEAN":
            cells.append(f"case when {ref} then 'True' when not {ref} then 'False' end")
        elif kind == "VARCHAR":
            if changed:
                ref = f"coalesce((select s.shown from _shown s where s.original = {ref}), {ref})"
            cells.append(f"case when left({ref}, 1) in ('=', '+', '-', '@', chr(9), chr(13)) "
                         f"then chr(39) || {ref} else {ref} end")
        else:
            cells.append(ref)
    return cells


def _write_csv(con, table: str, header: list[str], types: list[str], path: Path) -> None:
    """One mart as CSV, written by DuckDB's COPY straight into path (no second copy on disk), ordered
    by every column as the Parquet and XLSX files are. The header is the cells' aliases, the first
    one led by the UTF-8 byte-order mark, so the file starts as Excel needs."""
    cells = _csv_cells(con, table, header, types)
    names = [text_cell(h) for h in header]
    names[0] = "\ufeff" + names[0]
    select = ", ".join(f"{cell} as {quote_ident(name)}" for cell, name in zip(cells, names))
    order = ", ".join(f"t.{quote_ident(c)}" for c in header)
    try:
        con.execute(f"copy (select {select} from {table} t order by {order}) to ? "
                    r"(format csv, header true, new_line '\r\n')", [str(path)]).fetchall()
    except duckdb.IOException as exc:
        raise _io_error(exc, path) from exc


PARQUET_BATCH_ROWS = 122_880  # DuckDB's own row group size
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT)  # what a writer's IO error stands for


def _write_parquet(con, table: str, described: dict, path: Path) -> None:
    """One mart as Parquet, written by pyarrow from DuckDB's Arrow result: each field carries its
    column description in its own metadata (`description`, in the Arrow schema the file stores:
    `pyarrow.parquet.read_schema(path).field(name).metadata`, and Arrow-based readers; DuckDB's
    writer has file-level key-value metadata only), and the file carries the table's description,
    every column's description (JSON) and the primary key, as before."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # streamed in batches (a 100x fact table does not fit in memory at once), written in row groups
    reader = con.sql(f"select * from {table} order by all").to_arrow_reader(PARQUET_BATCH_ROWS)
    texts = {c: text for c, _k, _n, text in described["columns"]}
    schema = pa.schema([f.with_metadata({"description": texts.get(f.name) or ""}) for f in reader.schema],
                       metadata={"description": described["description"],
                                 "columns": json.dumps(texts, ensure_ascii=False),
                                 "primary_key": json.dumps(described["primary"])})
    try:
        with pq.ParquetWriter(str(path), schema, compression="snappy") as writer:
            for batch in reader:
                writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema),
                                   row_group_size=PARQUET_BATCH_ROWS)
    except OSError as exc:
        raise _io_error(exc, path) from exc


def _io_error(exc: Exception, path: Path) -> OSError:
    """DuckDB's (or pyarrow's) IO error while writing path as the OSError it stands for (disk full, read-only)."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno in (*_STORAGE_ERRNOS, errno.ENOENT):
        return OSError(exc.errno, os.strerror(exc.errno), str(path))
    for code in _STORAGE_ERRNOS:
        reason = os.strerror(code)
        if reason.lower() in text.lower():
            return OSError(code, reason, str(path))
    return OSError(errno.EIO, text.splitlines()[0] if text else "input/output error", str(path))


class _Workbook:
    """An XlsxWriter workbook in which every text cell is a string and every number a number."""

    def __init__(self, path: Path, small: bool = False):
        import xlsxwriter

        self.book = xlsxwriter.Workbook(str(path), {
            # rows are flushed as written (memory stays flat); a small table (a report page's) is built in
            # memory instead, without xlsxwriter's temporary files (the report's 351 tables 5.4 s -> 3.6 s)
            "constant_memory": not small, "in_memory": small,
            "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
            "nan_inf_to_errors": True,
        })
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.header = self.book.add_format({"bold": True})
        self._decimals: dict[int, object] = {}

    def decimal_format(self, places: int):
        """A figure as printed keeps its printed decimals (70.10 shows as 70.10)."""
        if places not in self._decimals:
            self._decimals[places] = self.book.add_format({"num_format": "0." + "0" * places if places else "0"})
        return self._decimals[places]

    def sheet(self, title: str, header: list[str], rows, notes: list[str] | None = None) -> None:
        """A sheet of rows under a bold, frozen header with an autofilter; each column as wide as its
        header or its longest value in the first 500 rows (10-60 characters); notes (each column's
        description) show as the header cells' comments."""
        ws = self.book.add_worksheet(title[:31])
        for j, name in enumerate(header):
            ws.write_string(0, j, text_cell(name), self.header)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(min(len(rows), EXCEL_MAX_ROWS), 1), max(len(header) - 1, 0))
        for j, name in enumerate(header):
            longest = max([len(name)] + [len(str(row[j])) for row in rows[:500] if row[j] is not None])
            ws.set_column(j, j, min(max(longest + 2, 10), 60))
            if notes and notes[j]:
                ws.write_comment(0, j, text_cell(notes[j]), {"x_scale": 3, "y_scale": 2})
        # a writer per Python type, found by one lookup per cell (the isinstance chain of cell() took a
        # third of the workbook's time); any other type goes through cell()
        writers = {str: lambda i, j, v: ws.write_string(i, j, text_cell(v)), bool: ws.write_boolean,
                   int: ws.write_number, float: ws.write_number}
        cell = self.cell
        for i, row in enumerate(rows, start=1):
            if i > EXCEL_MAX_ROWS:
                break
            for j, value in enumerate(row):
                if value is not None:
                    write = writers.get(type(value))
                    if write is None:
                        cell(ws, i, j, value)
                    else:
                        write(i, j, value)

    def cell(self, ws, i: int, j: int, value) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            ws.write_boolean(i, j, value)
        elif isinstance(value, (int, float)):
            ws.write_number(i, j, value)
        elif isinstance(value, Decimal):
            ws.write_number(i, j, float(value), self.decimal_format(max(-value.as_tuple().exponent, 0)))
        elif isinstance(value, dt.datetime):  # Excel has no time zones: UTC, as the warehouse stores them
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            ws.write_datetime(i, j, value, self.datetime)
        elif isinstance(value, dt.date):
            ws.write_datetime(i, j, dt.datetime(value.year, value.month, value.day), self.date)
        else:
            ws.write_string(i, j, text_cell(str(value)))

    def close(self) -> None:
        self.book.close()

    def abandon(self) -> None:
        """Not written: the export failed. The worksheets' temporary files (constant-memory mode)
        are closed; the workbook file itself was never created."""
        for ws in self.book.worksheets():
            try:
                ws._opt_close()
            except Exception:  # noqa: BLE001 - best effort on the way out of a failure
                log.debug("closing a worksheet's temporary file failed", exc_info=True)


def export_all(settings: Settings, progress=None, xlsx_facts: bool = False) -> dict:
    """Export every mart; returns {'folder': path, 'marts': n, 'workbooks': [...], 'seconds': s}."""
    started = time.perf_counter()
    target = exports_dir(settings)
    writing: list[Path | None] = [None]  # the file being written, named in a disk-full error
    with staged(target, "exporting the marts", lambda: writing[0]) as staging:
        names, workbooks = _export_into(settings, staging, writing, progress, xlsx_facts)
    return {"folder": str(target), "marts": len(names), "workbooks": workbooks,
            "seconds": round(time.perf_counter() - started, 2)}


def _tables_into(con, staging: Path, names: list[str], writing: list, progress=None) -> None:
    """Every mart as Parquet (pyarrow: each column's description in its field's metadata, the table's
    descriptions and primary key in the file's) and CSV (DuckDB's writer; described by datapackage.json).
    writing[0] names the file under way."""
    described = describe(con)
    publications = con.execute("select publisher, title, citation_url, licence from serving.marts.dim_publication "
                               "order by source_priority, publication_id").fetchall()
    writing[0] = staging / "datapackage.json"
    writing[0].write_text(json.dumps(data_package(described, publications), ensure_ascii=False, indent=1),
                          encoding="utf-8")
    for i, name in enumerate(names, start=1):
        if progress:
            progress(i, len(names), name)
        table = f"serving.marts.{quote_ident(name)}"
        rel = con.table(table)
        writing[0] = staging / "parquet" / f"{name}.parquet"
        _write_parquet(con, table, described[name], writing[0])
        writing[0] = staging / "csv" / f"{name}.csv"
        _write_csv(con, table, rel.columns, [str(t) for t in rel.types], writing[0])


def _serving(warehouse: Path):
    """An in-memory DuckDB with the serving file attached read-only as `serving` (a temporary table
    of the CSV writer lives in memory, never in the serving file), and the marts' names."""
    con = tune(duckdb.connect(), spill=warehouse.parent / "exports.spill")
    try:
        con.execute("attach ? as serving (read_only)", [str(warehouse)]).fetchall()
        names = [r[0] for r in con.execute("select table_name from information_schema.tables where "
                                           "table_catalog = 'serving' and table_schema = 'marts' "
                                           "order by table_name").fetchall()]
    except BaseException:
        con.close()
        raise
    for name in names:
        if not SAFE_NAME.fullmatch(name):
            con.close()
            raise PipelineError(f"refusing to export table marts.{name!r}: not a plain table name")
    return con, names


def _export_into(settings: Settings, staging: Path, writing: list, progress, xlsx_facts: bool):
    """The workbooks are written by a second process (python -m ingest.exports, _workbooks_main)
    while this one writes the Parquet and CSV files: XlsxWriter is pure Python and takes about as
    long as all the rest, and the machine has two cores (5.5 s in one process, about 3.5 s in two)."""
    (staging / "parquet").mkdir()
    (staging / "csv").mkdir()
    workbooks = [XLSX_NAME] + ([FACTS_XLSX_NAME] if xlsx_facts else [])
    con, names = _serving(settings.warehouse)
    child = subprocess.Popen([sys.executable, "-m", "ingest.exports", str(settings.warehouse), str(staging),
                              *workbooks], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        _tables_into(con, staging, names, writing, progress)
    except BaseException:
        child.kill()
        child.communicate()
        raise
    finally:
        con.close()
    report = child.communicate()[0]  # a failure, as one line of JSON (nothing when it succeeded)
    if child.returncode != 0:
        try:
            failure = json.loads(report)
        except ValueError:
            failure = {"message": f"the process writing the workbooks ended with code {child.returncode}"}
        writing[0] = Path(failure["file"]) if failure.get("file") else staging / XLSX_NAME
        if failure.get("errno") is not None:
            raise OSError(failure["errno"], failure.get("strerror") or "", str(writing[0]))
        raise PipelineError(f"writing {writing[0].name} failed: {failure.get('message')}")
    return names, workbooks


def _column_rows(described: dict[str, dict]) -> list[tuple]:
    """The `columns` sheet: every column of every mart (the fact tables' too), its type, whether it
    is required, its part in a key (primary, or the table it refers to) and its description."""
    rows = []
    for table, d in described.items():
        refers = {c: f"→ {ref}.{rc}" for cols, ref, ref_cols in d["foreign"] for c, rc in zip(cols, ref_cols)}
        for name, kind, not_null, text in d["columns"]:
            key = " ".join(k for k in ("primary" if name in d["primary"] else "", refers.get(name, "")) if k)
            rows.append((table, name, kind, not_null, key or None, text))
    return rows


def _write_workbooks(warehouse: Path, staging: Path, workbooks: list[str]) -> None:
    """The workbooks, in the second process: the marts workbook (every mart but the facts, and the
    sources), and on request the facts workbook."""
    con, names = _serving(warehouse)
    described = describe(con)
    books = [(_Workbook(staging / name), staging / name) for name in workbooks]
    try:
        for name in names:
            rel = con.table(f"serving.marts.{quote_ident(name)}").order("all")
            notes = [text for _c, _k, _n, text in described[name]["columns"]]
            if not name.startswith(FACT_PREFIX):
                books[0][0].sheet(name, rel.columns, rel.fetchall(), notes)
            elif len(books) > 1:
                books[1][0].sheet(name, rel.columns, rel.fetchall(), notes)
        cur = con.execute("select publication_id, title, publisher, source_type, citation_url, licence "
                          "from serving.marts.dim_publication order by source_priority, publication_id")
        books[0][0].sheet("sources", [d[0] for d in cur.description], cur.fetchall())
        books[0][0].sheet("columns", ["table", "column", "type", "required", "key", "description"], _column_rows(described))
    except BaseException:
        for b, _path in books:
            b.abandon()
        raise
    finally:
        con.close()
    for k, (b, path) in enumerate(books):  # the workbooks are written (zipped) here
        try:
            failpoint("export.workbooks", path)
            b.close()
        except Exception as exc:
            for other, _path in books[k + 1:]:
                other.abandon()
            cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else None
            if cause is None:
                raise
            # xlsxwriter's FileCreateError wraps the OSError, which names no file: name the workbook
            raise OSError(cause.errno, cause.strerror, str(path)) from exc


def _die_with_parent() -> None:
    """Linux: this process is killed when the export that started it dies (kill -9 included), so it
    never writes into a staging folder the next export has removed."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _workbooks_main(argv: list[str]) -> int:
    """python -m ingest.exports <serving file> <staging folder> <workbook>...: the workbooks; a
    failure is printed to stdout as one line of JSON (the file, errno, message) for the export."""
    _die_with_parent()
    # xlsxwriter's ZipFile, left open when writing failed, complains as it is collected at exit ("Exception
    # ignored in ZipFile.__del__", a traceback on stderr): the parent reports the failure in one line
    sys.unraisablehook = lambda unraisable: log.debug("ignored: %r", unraisable.exc_value)
    parent = os.getppid()
    warehouse, staging, workbooks = Path(argv[0]), Path(argv[1]), argv[2:]
    if parent == 1:  # the export that started this one is gone already
        return 1
    try:
        _write_workbooks(warehouse, staging, workbooks)
        return 0
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        log.debug("writing the workbooks failed", exc_info=True)
        failure = {"file": getattr(exc, "filename", None), "errno": getattr(exc, "errno", None),
                   "strerror": getattr(exc, "strerror", None), "message": str(exc).splitlines()[0] if str(exc) else repr(exc)}
        print(json.dumps(failure), flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(_workbooks_main(sys.argv[1:]))
